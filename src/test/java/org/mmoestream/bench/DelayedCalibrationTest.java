package org.mmoestream.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.mmoestream.simulate.DriftingSimulator;
import org.mmoestream.simulate.DriftingSimulator.Impression;

/**
 * The delayed-label calibration experiment of {@code bench feedback}: conversion predictions served
 * at twice the simulator's hidden probabilities are brought back to them by the conversions that have
 * arrived, hours before those clicks' labels are final.
 */
class DelayedCalibrationTest {
    @Test
    void theChanceOfArrivalGrowsFromNoneAtTheClickToAllAtTheWindowsEnd() {
        assertEquals(0, DelayedCalibration.arrivedBy(0), 1e-12);
        assertEquals(1, DelayedCalibration.arrivedBy(FeedbackBench.CONVERSION_WINDOW), 1e-12);
        assertEquals(1, DelayedCalibration.arrivedBy(2 * FeedbackBench.CONVERSION_WINDOW), 1e-12);
        assertTrue(DelayedCalibration.arrivedBy(DriftingSimulator.HOUR)
                < DelayedCalibration.arrivedBy(2 * DriftingSimulator.HOUR));
    }

    @Test
    void predictionsTwiceTooHighAreServedAtAboutTheHiddenProbabilities() {
        int hours = 24;
        Impression[] imps = FeedbackBench.impressions(1, 400_000, FeedbackExperiments.read());
        float[] served = new float[imps.length];
        for (int k = 0; k < imps.length; k++) {
            served[k] = (float) (2 * DriftingSimulator.convertedWithin(imps[k], FeedbackBench.CONVERSION_WINDOW));
        }
        DelayedCalibration.Ranges r =
                new DelayedCalibration(imps, served, FeedbackBench.START, 6 * DriftingSimulator.HOUR).ranges(hours);
        assertEquals(7, r.firstHour());
        // Raw: twice the hidden probabilities in every hour.
        assertEquals(2, r.raw()[2], 1e-6, Arrays.toString(r.raw()));
        assertEquals(2, r.raw()[3], 1e-6);
        // Calibrated: about 1, within the noise of some hundreds of arrived conversions.
        assertTrue(r.calibrated()[2] > 0.85 && r.calibrated()[3] < 1.15, Arrays.toString(r.calibrated()));
    }
}
