package org.mmoestream.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.mmoestream.simulate.DriftingSimulator;
import org.mmoestream.simulate.DriftingSimulator.Impression;

/**
 * The matured-label calibration experiment of {@code bench feedback}: a bias per item-age bucket
 * (new items served at half their click rate, old ones at double) is removed by the buckets'
 * factors from impressions whose labels are final, and the hours before a full window of them are
 * left out of the ranges.
 */
class MaturedCalibrationTest {
    @Test
    void aBiasPerAgeBucketIsRemovedByTheMaturedLabels() {
        MaturedCalibration.Ranges r = ranges(FeedbackBench.START, 96);
        assertEquals(49, r.firstHour(), "a day of matured impressions after the first's windows (24.5 h)");
        assertBiasRemoved(r);
    }

    /**
     * Impressions served before the scored days (the bench serves the warm-up's when the experiment
     * is on) teach the factors and stay out of the ranges: with a day of them, the ranges start a
     * day earlier.
     */
    @Test
    void impressionsServedBeforeTheScoredDaysTeachTheFactorsOnly() {
        MaturedCalibration.Ranges r = ranges(FeedbackBench.START + DriftingSimulator.DAY, 72);
        assertEquals(25, r.firstHour(), "24.5 h of windows and a day of matured labels, less the day served before");
        assertBiasRemoved(r);
    }

    private static void assertBiasRemoved(MaturedCalibration.Ranges r) {
        assertEquals(1.25, r.raw()[0][0], 1e-6, Arrays.toString(r.raw()[0]));
        assertEquals(1.25, r.raw()[0][1], 1e-6);
        assertEquals(1.0, r.calibrated()[0][0], 1e-6, Arrays.toString(r.calibrated()[0]));
        assertEquals(1.0, r.calibrated()[0][1], 1e-6);
    }

    /** 96 hours of impressions from the bench's start, biased by age bucket, scored from {@code scoredFrom}. */
    private static MaturedCalibration.Ranges ranges(long scoredFrom, int hours) {
        long start = FeedbackBench.START;
        int perBucket = 20;
        List<Impression> imps = new ArrayList<>();
        List<Float> ctr = new ArrayList<>();
        for (int hour = 0; hour < 96; hour++) {
            for (int i = 0; i < 2 * perBucket; i++) {
                long ts = start + hour * DriftingSimulator.HOUR + i * 60_000L;
                boolean young = i % 2 == 0;
                // Every fifth impression of each bucket is clicked a minute later: a click rate of 0.2.
                boolean clicked = (i / 2) % 5 == 0;
                imps.add(Impression.bare(
                        imps.size(),
                        ts,
                        0.2,
                        0.0,
                        clicked ? ts + 60_000 : -1,
                        -1,
                        young ? 0 : 40 * DriftingSimulator.HOUR,
                        i));
                ctr.add(young ? 0.1f : 0.4f);
            }
        }
        float[][] served = new float[3][imps.size()];
        for (int k = 0; k < imps.size(); k++) {
            served[0][k] = ctr.get(k);
            served[1][k] = 0.05f;
            served[2][k] = 0.05f * ctr.get(k);
        }
        return new MaturedCalibration(imps.toArray(new Impression[0]), served, scoredFrom, DriftingSimulator.DAY)
                .ranges(hours);
    }
}
