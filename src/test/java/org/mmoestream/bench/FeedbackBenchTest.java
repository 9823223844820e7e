package org.mmoestream.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.mmoestream.simulate.DriftingSimulator;

/**
 * {@code bench feedback} on two small simulated days: every mode prints its figures, the examples
 * each mode trains are what its join sends (fnw: every impression once, and again for each click
 * and conversion after it; es-dfm: after its 15-minute window, again for each positive after that,
 * and once closed without a conversion), and the label latency is what each mode waits for.
 */
class FeedbackBenchTest {
    private static final int PER_DAY = 5_000;

    @Test
    void eachModeTrainsWhatItsJoinSendsAfterItsWait() {
        Map<String, Double> f = figures(0, List.of("oracle", "wait", "fnw", "es-dfm"));
        int n = 2 * PER_DAY;
        assertEquals(n, f.get("feedback.impressions"));
        for (String mode : List.of("oracle", "wait", "fnw")) {
            for (String head : List.of("ctr", "cvr", "ctcvr")) {
                double auc = f.get("feedback." + mode + "." + head + ".auc");
                assertTrue(auc > 0 && auc < 1, mode + " " + head + " AUC " + auc);
            }
        }
        for (String head : List.of("ctr", "cvr", "ctcvr")) {
            // The simulator's hidden probabilities rank better than any model trained on two days.
            double truth = f.get("feedback.truth." + head + ".auc");
            double oracle = f.get("feedback.oracle." + head + ".auc");
            assertTrue(truth > oracle, head + ": truth " + truth + ", oracle " + oracle);
        }
        assertEquals(n, f.get("feedback.oracle.examples_trained"));
        assertEquals(n, f.get("feedback.wait.examples_trained"));
        // The simulator's clicks and conversions within the windows (30 min, 24 h) of the same days.
        DriftingSimulator sim = new DriftingSimulator(7, 20_000, 20_000, 1_767_225_600_000L, 2);
        int positives = 0;
        // es-dfm (observation window 15 min): once observed, again for each positive after the window,
        // and once closed when the windows end without a conversion.
        long c = 15 * DriftingSimulator.MINUTE;
        int esDfm = 0;
        for (int k = 0; k < n; k++) {
            DriftingSimulator.Impression im =
                    sim.next(k, 1_767_225_600_000L + (long) ((double) k / n * 2 * DriftingSimulator.DAY));
            boolean click = im.clickTs() >= 0 && im.clickTs() - im.ts() <= 30 * DriftingSimulator.MINUTE;
            boolean conversion =
                    click && im.conversionTs() >= 0 && im.conversionTs() - im.clickTs() <= DriftingSimulator.DAY;
            positives += (click ? 1 : 0) + (conversion ? 1 : 0);
            esDfm += 1 + (click && im.clickTs() > im.ts() + c ? 1 : 0);
            esDfm += conversion ? (im.conversionTs() > im.ts() + c ? 1 : 0) : 1;
        }
        assertTrue(positives > n / 20, positives + " clicks and conversions");
        assertEquals(n + positives, f.get("feedback.fnw.examples_trained"));
        assertEquals(esDfm, f.get("feedback.es-dfm.examples_trained"));
        assertEquals(900, f.get("feedback.es-dfm.label_latency_p99"), "sent when its 15-minute window closes");
        for (String head : List.of("ctr", "cvr", "ctcvr")) {
            double auc = f.get("feedback.es-dfm." + head + ".auc");
            assertTrue(auc > 0.5 && auc < 1, "es-dfm " + head + " AUC " + auc);
        }
        assertEquals(0, f.get("feedback.oracle.label_latency_p99"));
        assertEquals(0, f.get("feedback.fnw.label_latency_p99"), "observation window 0: sent with the impression");
        assertEquals(1800, f.get("feedback.wait.label_latency_p50"), "most impressions wait out the click window");
        assertTrue(f.get("feedback.wait.label_latency_p99") > 80_000, "clicked ones wait out the conversion window");
        assertTrue(f.containsKey("feedback.fnw.cvr.gap_closed"));
    }

    /**
     * With warm-up days every mode trains on them unscored and the scored days follow: a model that
     * has run a day scores the next day's first hours calibrated where a cold one has not learned yet
     * (wait's first clicks are final only after the 30-minute click window).
     */
    @Test
    void warmUpDaysTrainEveryModeBeforeTheScoredDays() {
        Map<String, Double> cold = figures(0, List.of("oracle", "wait"));
        Map<String, Double> warm = figures(1, List.of("oracle", "wait"));
        assertEquals(2 * PER_DAY, cold.get("feedback.impressions_scored"));
        assertEquals(3 * PER_DAY, warm.get("feedback.impressions"));
        assertEquals(2 * PER_DAY, warm.get("feedback.impressions_scored"));
        assertEquals(3 * PER_DAY, warm.get("feedback.oracle.examples_trained"), "the warm-up day is trained");
        assertEquals(3 * PER_DAY, warm.get("feedback.wait.examples_trained"));
        double coldCtr = cold.get("feedback.wait.ctr.calibration_hourly_min");
        double warmCtr = warm.get("feedback.wait.ctr.calibration_hourly_min");
        assertTrue(warmCtr > 2 * coldCtr, "wait's lowest hourly ctr calibration " + coldCtr + " cold, " + warmCtr);
    }

    /** The figures {@code bench feedback} prints for two scored days after {@code warmupDays}. */
    private static Map<String, Double> figures(int warmupDays, List<String> modes) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        new FeedbackBench(
                        warmupDays,
                        2,
                        PER_DAY,
                        0,
                        15 * DriftingSimulator.MINUTE,
                        new PrintStream(buf, true, StandardCharsets.UTF_8))
                .run(modes);
        Map<String, Double> f = new HashMap<>();
        for (String line : buf.toString(StandardCharsets.UTF_8).split("\n")) {
            String[] p = line.trim().split(" ");
            f.put(p[0], Double.parseDouble(p[1]));
        }
        return f;
    }
}
