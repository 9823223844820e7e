package org.mmoestream;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Every line of the Java sources is at most 120 characters. The formatter (Spotless with
 * palantir-java-format, checked at the start of every build) wraps code at 120 but leaves long
 * string literals and comments alone; this catches those.
 */
class SourceLinesTest {
    @Test
    void noLineLongerThan120Characters() throws Exception {
        List<String> long120 = new ArrayList<>();
        try (Stream<Path> files = Files.walk(Path.of("src"))) {
            for (Path p : files.filter(f -> f.toString().endsWith(".java")).toList()) {
                List<String> lines = Files.readAllLines(p);
                for (int i = 0; i < lines.size(); i++) {
                    if (lines.get(i).length() > 120) {
                        long120.add(p + ":" + (i + 1));
                    }
                }
            }
        }
        assertEquals(List.of(), long120, "lines over 120 characters");
    }
}
