package org.mmoestream.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.mmoestream.simulate.DriftingSimulator;
import org.mmoestream.simulate.DriftingSimulator.Impression;

/**
 * The calibration by the model as it is now: at the start of an hour, the conversions arrived from
 * the window's clicks over what the model's predictions of those clicks expect by then; clicks outside
 * the window and conversions still to come do not count, and the factor holds for the whole hour.
 */
class RescoredCalibrationTest {
    private static final long HOUR = DriftingSimulator.HOUR;
    private static final long T = FeedbackBench.START + 30 * HOUR;

    @Test
    void theFactorIsTheArrivedConversionsOverWhatTheModelExpectsByThen() {
        List<Impression> imps = new ArrayList<>();
        // Before the 6 h window: not counted, converted or not.
        for (int k = 0; k < 50; k++) {
            imps.add(impression(T - 8 * HOUR + k, 60_000, HOUR));
        }
        // In the window, 6 h before T: 40 clicks, 10 converted 2 h after the click, 5 converting after T.
        for (int k = 0; k < 40; k++) {
            imps.add(impression(T - 6 * HOUR + 1000 + k, 60_000, k < 10 ? 2 * HOUR : k < 15 ? 7 * HOUR : -1));
        }
        // Without a click: never counted.
        imps.add(impression(T - 2 * HOUR, -1, -1));
        // In the window, 1 h before T: 20 clicks, none converted yet.
        for (int k = 0; k < 20; k++) {
            imps.add(impression(T - HOUR + k, 60_000, -1));
        }
        // After T: counted from the next hour on.
        imps.add(impression(T + 10, 60_000, 60_000));
        Impression[] all = imps.toArray(new Impression[0]);
        List<Integer> asked = new ArrayList<>();
        RescoredCalibration c = new RescoredCalibration(all, 6 * HOUR, rows -> {
            asked.addAll(rows);
            double[] p = new double[rows.size()];
            Arrays.fill(p, 0.25);
            return p;
        });
        c.at(T);
        assertEquals(60, asked.size());
        double expected = 0;
        for (int k : asked) {
            expected += 0.25 * DelayedCalibration.arrivedBy(T - all[k].clickTs());
        }
        assertEquals(10 / expected, c.factor(), 1e-12);
        // Within the hour the factor stands; the model is not asked again.
        c.at(T + HOUR - 1);
        assertEquals(60, asked.size());
        assertEquals(10 / expected, c.factor(), 1e-12);
        // The next hour's window: the 20 clicks of the hour before T and the one after it.
        c.at(T + HOUR);
        assertEquals(60 + 21, asked.size());
    }

    @Test
    void aWindowBeyondTheConversionWindowIsRefused() {
        assertThrows(
                IllegalArgumentException.class,
                () -> new RescoredCalibration(new Impression[0], FeedbackBench.CONVERSION_WINDOW + 1, rows -> null));
    }

    /** An impression at {@code ts}, clicked {@code clickDelay} after it, converted {@code conversionDelay} later. */
    private static Impression impression(long ts, long clickDelay, long conversionDelay) {
        long clickTs = clickDelay < 0 ? -1 : ts + clickDelay;
        long conversionTs = clickDelay < 0 || conversionDelay < 0 ? -1 : clickTs + conversionDelay;
        return Impression.bare(0, ts, 0.1, 0.1, clickTs, conversionTs, 0, 0);
    }
}
