package org.mmoestream.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JobConfigTest {
  @TempDir Path dir;

  @Test
  void defaultsAndNestedYaml() throws Exception {
    assertEquals(30 * 60_000L, JobConfig.defaults().millis(JobConfig.Key.CLICK_WINDOW));
    Path f = dir.resolve("job.yaml");
    Files.writeString(f, "kafka:\n  bootstrap-servers: 127.0.0.1:9999\njoin:\n  click-window: 10 min\n  conversion-window: 2 h\n");
    JobConfig c = JobConfig.load(f);
    assertEquals("127.0.0.1:9999", c.string(JobConfig.Key.BOOTSTRAP));
    assertEquals(600_000L, c.millis(JobConfig.Key.CLICK_WINDOW));
    assertEquals(7_200_000L, c.millis(JobConfig.Key.CONVERSION_WINDOW));
  }

  @Test
  void invalidValuesFailWithOneSentenceNamingTheKey() throws Exception {
    Path f = dir.resolve("job.yaml");
    Files.writeString(f, "join:\n  click-window: soon\n");
    InputException e = assertThrows(InputException.class, () -> JobConfig.load(f));
    assertTrue(e.getMessage().contains("job.yaml") && e.getMessage().contains("join.click-window")
        && e.getMessage().contains("'soon'") && e.getMessage().endsWith("."), e.getMessage());
    e = assertThrows(InputException.class, () -> JobConfig.of(Map.of("join.clik-window", "1 s")));
    assertTrue(e.getMessage().contains("unknown key join.clik-window"), e.getMessage());
    e = assertThrows(InputException.class, () -> JobConfig.of(Map.of("kafka.transaction-timeout", "20 min")));
    assertTrue(e.getMessage().contains("15 min"), e.getMessage());
    e = assertThrows(InputException.class, () -> JobConfig.of(Map.of("topics.clicks", "bad topic!")));
    assertTrue(e.getMessage().contains("topics.clicks"), e.getMessage());
  }
}
