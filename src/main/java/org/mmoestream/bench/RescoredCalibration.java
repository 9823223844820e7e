package org.mmoestream.bench;

import java.util.List;
import java.util.function.Function;
import org.mmoestream.simulate.DriftingSimulator;
import org.mmoestream.simulate.DriftingSimulator.Impression;

/**
 * An experiment of {@code bench feedback} (docs/fresh-labels-calibration.md): a calibration of the
 * served conversion predictions by the model as it is now. At the start of each simulated hour the
 * model predicts again the conversions of the clicks of the last {@code window}; the conversions
 * that have arrived from them are compared with what those predictions expect by now, each weighed
 * by the chance that its conversion has come by then (Chapelle, KDD 2014; the simulator's delay
 * distribution, which a job would estimate), and the hour's conversion predictions are served times
 * their ratio. Unlike {@link DelayedCalibration}, which compares the arrivals with the predictions
 * served when the clicks came, it measures the level of the model that serves the hour.
 */
final class RescoredCalibration {
    private final ClickWindow clicks;
    /** The conversion predictions of the model as it is now, for the impressions of the given indexes. */
    private final Function<List<Integer>, double[]> predict;

    private long hour = Long.MIN_VALUE;
    private double factor = 1;

    /**
     * @param imps the impressions in event-time order
     * @param window how far back the clicks are taken, event time
     * @param predict the model's conversion predictions now for the impressions of the given indexes
     */
    RescoredCalibration(Impression[] imps, long window, Function<List<Integer>, double[]> predict) {
        if (window <= 0 || window > FeedbackBench.CONVERSION_WINDOW) {
            throw new IllegalArgumentException(
                    "the window must be above 0 and within the conversion window: " + window);
        }
        this.clicks = new ClickWindow(imps, window);
        this.predict = predict;
    }

    /** Moves to event time {@code now}: at the start of a new hour, measures the factor again. */
    void at(long now) {
        long h = Math.floorDiv(now, DriftingSimulator.HOUR);
        if (h == hour) {
            return;
        }
        hour = h;
        long t = h * DriftingSimulator.HOUR;
        List<Integer> recent = clicks.clicks(t, k -> true);
        double[] p = new double[recent.size()];
        for (int s = 0; s < recent.size(); s += 4096) {
            List<Integer> slice = recent.subList(s, Math.min(recent.size(), s + 4096));
            System.arraycopy(predict.apply(slice), 0, p, s, slice.size());
        }
        double expected = clicks.expected(recent, p, t);
        int arrived = clicks.arrived(recent, t);
        factor = expected > 0 && arrived > 0 ? arrived / expected : 1;
    }

    /** The factor the hour's conversion predictions are served times. */
    double factor() {
        return factor;
    }
}
