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

/**
 * {@code mmoe demo} on a short stream: it runs both jobs end to end and writes its report and chart;
 * with the CTR/CVR/value spec, so the conversions' values travel from the events through the join
 * and the examples topic to a regression task, its versions and the scoring job.
 */
class DemoITCase {
    @TempDir
    Path out;

    @Test
    void demoWritesAReportAndALearningCurve() throws Exception {
        assertEquals(
                0,
                Main.execute(
                        "demo",
                        "--events",
                        "30000",
                        "--spec",
                        "examples/ctr-cvr-value.yaml",
                        "--feedback",
                        "wait",
                        "--out",
                        out.toString()));
        JsonNode r = new ObjectMapper().readTree(out.resolve("report.json").toFile());
        assertEquals("mmoe", r.get("model").asText());
        assertTrue(r.get("model_versions").asInt() >= 1);
        assertEquals(2000, r.get("scores").asLong(), "every score request scored");
        // Every malformed record the simulator wrote, and nothing else, is a dead letter.
        assertTrue(r.get("malformed_written").asLong() > 0);
        assertEquals(r.get("malformed_written").asLong(), r.get("dead_letters").asLong());
        // Every impression the simulator wrote is trained once, despite duplicates and malformed records.
        assertTrue(r.get("impressions_written").asLong() > 10_000, r.toString());
        assertEquals(
                r.get("impressions_written").asLong(),
                r.get("examples_expected").asLong());
        assertEquals(
                r.get("impressions_written").asLong(), r.get("examples_trained").asLong());
        // The model's quality is the full demo's to show (README); this short stream checks the figures exist.
        for (String task : new String[] {"ctr", "cvr"}) {
            JsonNode t = r.get("tasks").get(task);
            assertTrue(
                    t.get("oracle_auc").asDouble() > 0.75
                            && t.get("heldout_oracle_auc").asDouble() > 0.75,
                    task + " oracle " + t);
            assertTrue(t.get("heldout_auc").isNumber() && t.get("auc").isNumber(), task + " model " + t);
        }
        assertTrue(
                r.path("gate_health").path("ctr").has("entropy"), "gate health in the report: " + r.get("gate_health"));
        // The value task learns the conversions' values: progressive RMSE in its versions, and on the
        // held-out conversions near the simulator's own expected value (about 5% above it on this
        // short stream; figures of the full demo in the README), calibrated within a quarter.
        JsonNode v = r.get("tasks").get("value");
        assertTrue(v.get("rmse").isNumber() && v.get("n").asLong() > 1000, "value " + v);
        double oracle = v.get("heldout_oracle_rmse").asDouble();
        assertTrue(oracle > 0 && v.get("heldout_rmse").asDouble() < 1.15 * oracle, "value " + v);
        double calibration = v.get("heldout_calibration").asDouble();
        assertTrue(calibration > 0.8 && calibration < 1.25, "value " + v);
        assertTrue(Files.size(out.resolve("learning-curve.png")) > 10_000);
    }

    /**
     * {@code demo --feedback es-dfm}: the delay heads of {@code examples/ctr-cvr-es-dfm.yaml} learn
     * from the labels the join's emissions carry through the examples topic and the encoder (a head
     * left without labels would have no progressive metrics), and the model ranks as the others do.
     */
    @Test
    void demoWithEsDfmTrainsItsDelayHeads() throws Exception {
        Path dir = out.resolve("es-dfm");
        assertEquals(0, Main.execute("demo", "--events", "20000", "--feedback", "es-dfm", "--out", dir.toString()));
        JsonNode r = new ObjectMapper().readTree(dir.resolve("report.json").toFile());
        // Each impression once observed, once more for a later click or conversion, else once closed.
        assertEquals(
                r.get("examples_expected").asLong(), r.get("examples_trained").asLong(), r.toString());
        assertTrue(r.get("examples_expected").asLong()
                > r.get("impressions_written").asLong() * 3 / 2);
        for (String head :
                new String[] {"click_delayed", "click_real_negative", "conversion_delayed", "conversion_real_negative"
                }) {
            JsonNode t = r.get("tasks").get(head);
            assertTrue(t != null && t.get("n").asLong() > 1000 && t.get("auc").asDouble() > 0.6, head + " " + t);
        }
        // The model learns cvr as the events come. (Not its final version's held-out AUC: the join sends
        // each conversion when the watermark passes it, and this stream's last 90 s of event time, its
        // conversion window, end it with conversions whose negatives came long before and whose closing
        // emissions train the delay heads only; on 20,000 events that last run decides the final model.)
        assertTrue(r.get("tasks").get("cvr").get("auc").asDouble() > 0.55, r.toString());
    }

    /**
     * {@code demo --history N}, with the default feedback (defer): N impressions trained offline
     * first, saved with their training state, and the pipeline starts from that model; its examples
     * seen go on from the history's, and it then trains every example the join owes the live
     * impressions once (two or three each). The progressive metrics measure each impression with
     * the model as it was at the impression against its final labels: near the oracle on the same
     * stretch, neither far below it as the labels as sent would put them (a later click counted as
     * a negative first) nor above it as the final labels scored when they come would.
     */
    @Test
    void demoStartsFromAModelTrainedOnAHistory() throws Exception {
        Path dir = out.resolve("history");
        assertEquals(0, Main.execute("demo", "--events", "10000", "--history", "20000", "--out", dir.toString()));
        JsonNode r = new ObjectMapper().readTree(dir.resolve("report.json").toFile());
        assertEquals(20_000, r.get("history_examples").asLong());
        assertEquals(
                r.get("examples_expected").asLong(), r.get("examples_trained").asLong(), r.toString());
        assertTrue(
                r.get("examples_expected").asLong()
                        > 2 * r.get("impressions_written").asLong(),
                r.toString());
        for (String task : new String[] {"ctr", "cvr"}) {
            JsonNode t = r.get("tasks").get(task);
            double auc = t.get("auc").asDouble();
            assertTrue(auc > 0.65 && auc < t.get("oracle_auc").asDouble() + 0.03, task + " " + t);
        }
        org.mmoestream.model.codec.SnapshotState history = new org.mmoestream.model.codec.SnapshotState();
        assertTrue(history.apply(Files.readAllBytes(dir.resolve("history.safetensors"))));
        assertEquals(20_000, history.examplesSeen());
        assertTrue(history.metadata().containsKey("training_optimizer"), "saved with its training state");
        assertTrue(r.get("tasks").get("ctr").get("heldout_auc").asDouble() > 0.7, r.toString());
    }
}
