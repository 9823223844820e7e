package org.mmoestream.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.mmoestream.simulate.DriftingSimulator;
import org.mmoestream.simulate.DriftingSimulator.Impression;

/**
 * An experiment of {@code bench feedback} (README, Fresh labels): a calibration of the served
 * conversion predictions by the model as it is now. At the start of each simulated hour the model
 * predicts again the conversions of the clicks of the last {@code window}; the conversions that have
 * arrived from them are compared with what those predictions expect by now, each weighed by the
 * chance that its conversion has come by then (Chapelle, KDD 2014; the simulator's delay
 * distribution, which a job would estimate), and the hour's conversion predictions are served times
 * their ratio. Unlike {@link DelayedCalibration}, which compares the arrivals with the predictions
 * served when the clicks came, it measures the level of the model that serves the hour.
 */
final class RescoredCalibration {
    private final Impression[] imps;
    private final long window;
    /** The conversion predictions of the model as it is now, for the impressions of the given indexes. */
    private final Function<List<Integer>, double[]> predict;

    private int from;
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
        this.imps = imps;
        this.window = window;
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
        while (from < imps.length && imps[from].ts() < t - window - FeedbackBench.CLICK_WINDOW) {
            from++;
        }
        List<Integer> clicks = new ArrayList<>();
        double arrived = 0;
        for (int k = from; k < imps.length && imps[k].ts() < t; k++) {
            Impression im = imps[k];
            if (FeedbackBench.clicked(im) && im.clickTs() >= t - window && im.clickTs() < t) {
                clicks.add(k);
                if (FeedbackBench.converted(im) && im.conversionTs() < t) {
                    arrived++;
                }
            }
        }
        double expected = 0;
        for (int s = 0; s < clicks.size(); s += 4096) {
            List<Integer> slice = clicks.subList(s, Math.min(clicks.size(), s + 4096));
            double[] p = predict.apply(slice);
            for (int r = 0; r < p.length; r++) {
                expected += p[r] * DelayedCalibration.arrivedBy(t - imps[slice.get(r)].clickTs());
            }
        }
        factor = expected > 0 && arrived > 0 ? arrived / expected : 1;
    }

    /** The factor the hour's conversion predictions are served times. */
    double factor() {
        return factor;
    }
}
