package org.mmoestream.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.mmoestream.simulate.DriftingSimulator;
import org.mmoestream.simulate.DriftingSimulator.Impression;

/**
 * The per-item calibration experiment of {@code bench feedback}: an item served at half its
 * conversions and another at twice them are each brought back to them by their own conversions as
 * they arrive, and no hour's factor knows of a conversion that comes after the hour has started.
 */
class ItemCalibrationTest {
    private static final long HOUR = DriftingSimulator.HOUR;
    private static final int HOURS = 48;
    private static final double P_CONVERSION = 0.2;

    /**
     * Two items, each shown and clicked at once 600 times an hour; a click converts with probability
     * 0.2 after an exponential delay of mean 8 h, as the simulator's.
     */
    private static Impression[] impressions(SplittableRandom rnd) {
        Impression[] imps = new Impression[HOURS * 1200];
        for (int n = 0; n < imps.length; n++) {
            long ts = FeedbackBench.START + n * (HOURS * HOUR / imps.length);
            long clickTs = ts + DriftingSimulator.MINUTE;
            long conversionTs = rnd.nextDouble() < P_CONVERSION
                    ? clickTs + (long) (-Math.log(1 - rnd.nextDouble()) * DriftingSimulator.MEAN_CONVERSION_DELAY)
                    : -1;
            imps[n] = Impression.bare(n, ts, 1, P_CONVERSION, clickTs, conversionTs, 0, n & 1);
        }
        return imps;
    }

    /** Item 0 served at half its hidden probability, item 1 at twice it; every head the same. */
    private static float[][] served(Impression[] imps) {
        float[][] served = new float[3][imps.length];
        for (int k = 0; k < imps.length; k++) {
            double truth = DriftingSimulator.convertedWithin(imps[k], FeedbackBench.CONVERSION_WINDOW);
            float p = (float) (imps[k].item() == 0 ? truth / 2 : truth * 2);
            served[0][k] = 1;
            served[1][k] = p;
            served[2][k] = p;
        }
        return served;
    }

    @Test
    void eachItemIsBroughtToItsOwnConversionsOnceTheyHaveArrived() {
        Impression[] imps = impressions(new SplittableRandom(3));
        ItemCalibration calibration = new ItemCalibration(imps, served(imps), FeedbackBench.START);
        float[][] factor = calibration.factors(HOURS, 12 * HOUR, 5);
        // No evidence before the first hour: as served.
        assertEquals(1, factor[0][0], 1e-6);
        assertEquals(1, factor[0][1], 1e-6);
        // A day on, each item's factor undoes its own error, within the noise of its conversions.
        for (int hour = 24; hour < HOURS; hour++) {
            assertEquals(2, factor[hour][0], 0.3, "hour " + hour);
            assertEquals(0.5, factor[hour][1], 0.08, "hour " + hour);
        }
        // As served, every hour is 1.25 times the hidden probabilities (half at 0.5, half at 2);
        // calibrated, the hours of the second day are about 1.
        ItemCalibration.Figures raw = calibration.figures(HOURS, null)[0];
        ItemCalibration.Figures calibrated = calibration.figures(HOURS, factor)[0];
        double[] rawRatios = raw.truthRatios();
        double[] ratios = calibrated.truthRatios();
        for (int r = 23; r < ratios.length; r++) {
            assertEquals(1.25, rawRatios[r], 1e-4);
            assertEquals(1, ratios[r], 0.1, "hour " + (r + 1) + ": " + Arrays.toString(ratios));
        }
        // ctcvr is served times the same factor.
        assertArrayEquals(ratios, calibration.figures(HOURS, factor)[1].truthRatios(), 1e-3);
    }

    @Test
    void anHoursFactorsKnowOnlyTheConversionsArrivedBeforeItStarts() {
        Impression[] imps = impressions(new SplittableRandom(5));
        float[][] served = served(imps);
        int hour = 30;
        long t = FeedbackBench.START + hour * HOUR;
        // The same clicks, every conversion not yet arrived at the hour's start moved a window later
        // (where it no longer counts) or dropped.
        Impression[] other = new Impression[imps.length];
        for (int k = 0; k < imps.length; k++) {
            Impression im = imps[k];
            long conversionTs =
                    im.conversionTs() >= t ? im.conversionTs() + FeedbackBench.CONVERSION_WINDOW : im.conversionTs();
            other[k] = im.withConversionTs(k % 2 == 0 && conversionTs >= t ? -1 : conversionTs);
        }
        float[] known = new ItemCalibration(imps, served, FeedbackBench.START).factors(HOURS, 6 * HOUR, 20)[hour];
        float[] same = new ItemCalibration(other, served, FeedbackBench.START).factors(HOURS, 6 * HOUR, 20)[hour];
        assertArrayEquals(known, same, 0);
        // And they do move with the conversions that have arrived.
        assertTrue(Math.abs(known[0] - 1) > 0.3, Arrays.toString(known));
    }
}
