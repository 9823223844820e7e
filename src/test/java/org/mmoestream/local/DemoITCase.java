package org.mmoestream.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.cli.Main;

/** {@code mmoe demo} on a short stream: it runs both jobs end to end and writes its report and chart. */
class DemoITCase {
  @TempDir Path out;

  @Test
  void demoWritesAReportAndALearningCurve() throws Exception {
    assertEquals(0, Main.execute("demo", "--events", "30000", "--out", out.toString()));
    JsonNode r = new ObjectMapper().readTree(out.resolve("report.json").toFile());
    assertEquals("mmoe", r.get("model").asText());
    assertTrue(r.get("model_versions").asInt() >= 1);
    assertEquals(2000, r.get("scores").asLong(), "every score request scored");
    assertEquals(0, r.get("dead_letters").asLong());
    // 30,000 events are 21,127 measured impressions plus the 12,000-impression tail: all trained.
    assertEquals(21_127 + 12_000, r.get("examples_trained").asLong());
    // The model's quality is the full demo's to show (README); on a stream this short the measured
    // version may be the last one, which the end-of-replay burst skews, so only its presence is checked.
    for (String task : new String[] {"ctr", "cvr"}) {
      JsonNode t = r.get("tasks").get(task);
      assertTrue(t.get("heldout_oracle_auc").asDouble() > 0.8, task + " oracle " + t);
      assertTrue(t.get("heldout_auc").isNumber() && t.get("auc").isNumber(), task + " model " + t);
    }
    assertTrue(Files.size(out.resolve("learning-curve.png")) > 10_000);
  }
}
