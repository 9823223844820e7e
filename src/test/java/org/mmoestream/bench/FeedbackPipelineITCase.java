package org.mmoestream.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.mmoestream.model.SpecLoader;
import org.mmoestream.simulate.DriftingSimulator;

/**
 * {@code bench feedback --pipeline} on three small simulated days (one of warm-up) sent live
 * through an embedded Kafka broker and the pipeline job on RocksDB: every impression of the scored
 * days is scored by a version read back from the model topic, versions come several per simulated
 * hour, defer trains each impression at once and again, and, through the real join and trainer as
 * in process, fresh labels rank clicks better than waiting for them; the trainer's progressive
 * metrics under defer agree with the serving-time evaluation.
 */
class FeedbackPipelineITCase {
    private static final int PER_DAY = 50_000;

    @Test
    void freshLabelsThroughTheJobRankBetterThanWaiting() throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        new FeedbackPipelineBench(
                        1,
                        2,
                        PER_DAY,
                        0.5,
                        0,
                        15 * DriftingSimulator.MINUTE,
                        new PrintStream(buf, true, StandardCharsets.UTF_8))
                .run(SpecLoader.load(Path.of("examples/ctr-cvr.yaml")), List.of("oracle", "wait", "defer"));
        Map<String, Double> f = new HashMap<>();
        for (String line : buf.toString(StandardCharsets.UTF_8).split("\n")) {
            String[] p = line.trim().split(" ");
            f.put(p[0], Double.parseDouble(p[1]));
        }
        assertEquals(3 * PER_DAY, f.get("feedback.pipeline.impressions"));
        assertTrue(!f.containsKey("feedback.pipeline.oracle.ctr.auc"), "the oracle is in-process only");
        for (String mode : List.of("wait", "defer")) {
            String p = "feedback.pipeline." + mode;
            assertEquals(2 * PER_DAY, f.get(p + ".impressions_scored"), mode);
            assertEquals(0, f.get(p + ".impressions_unscored"), mode + ": a version exists after the warm-up day");
            assertTrue(f.get(p + ".versions") > 3 * 24, mode + ": " + f.get(p + ".versions") + " versions");
        }
        // defer sends every impression at once, and again when its labels are final.
        assertTrue(f.get("feedback.pipeline.defer.examples_trained") > 1.5 * 3 * PER_DAY, f.toString());
        // wait trains every impression once, the last ones when the bench's tail event has moved the
        // watermark past their windows, and every one is in a committed version.
        assertEquals(3 * PER_DAY, f.get("feedback.pipeline.wait.examples_trained"), f.toString());
        assertTrue(f.get("feedback.pipeline.defer.examples_trained") >= 2 * 3 * PER_DAY, f.toString());
        double waitCtr = f.get("feedback.pipeline.wait.ctr.auc");
        double deferCtr = f.get("feedback.pipeline.defer.ctr.auc");
        assertTrue(deferCtr > waitCtr + 0.02, "ctr AUC: defer " + deferCtr + ", wait " + waitCtr);
        // The trainer's own progressive ctr AUC under defer (each impression scored at its first
        // emission, measured on its final label) measures what serving measures.
        double progressive = f.get("feedback.pipeline.defer.ctr.progressive_auc");
        System.out.printf("defer ctr AUC: serving %.4f, trainer's progressive %.4f%n", deferCtr, progressive);
        assertEquals(deferCtr, progressive, 0.03, "defer ctr AUC: serving vs the trainer's progressive");
    }
}
