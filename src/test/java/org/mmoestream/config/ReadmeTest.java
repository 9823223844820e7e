package org.mmoestream.config;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The README's job configuration table lists every key with its default. */
class ReadmeTest {
    @Test
    void everyJobConfigKeyIsDocumented() throws Exception {
        String readme = Files.readString(Path.of("README.md"));
        for (String[] row : JobConfig.table()) {
            String line = "| `" + row[0] + "` | " + row[1] + " |";
            assertTrue(readme.contains(line), "README lacks the row: " + line);
        }
    }
}
