package org.mmoestream.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntPredicate;
import org.mmoestream.simulate.DriftingSimulator.Impression;

/**
 * The clicks of the last {@code window} before a time, and what has arrived of their conversions by
 * then against what predictions of them expect (Chapelle, KDD 2014): the measure that {@link
 * DelayedCalibration} takes of the served predictions and {@link RescoredCalibration} of the model as
 * it is now. Asked at times that do not decrease, it walks the impressions (in event-time order) once.
 */
final class ClickWindow {
    private final Impression[] imps;
    private final long window;
    private int from;

    ClickWindow(Impression[] imps, long window) {
        this.imps = imps;
        this.window = window;
    }

    /**
     * The indexes, in order, of the impressions that {@code counted} takes and that were clicked in
     * [t - window, t).
     */
    List<Integer> clicks(long t, IntPredicate counted) {
        while (from < imps.length && imps[from].ts() < t - window - FeedbackBench.CLICK_WINDOW) {
            from++;
        }
        List<Integer> clicks = new ArrayList<>();
        for (int k = from; k < imps.length && imps[k].ts() < t; k++) {
            Impression im = imps[k];
            if (counted.test(k) && FeedbackBench.clicked(im) && im.clickTs() >= t - window && im.clickTs() < t) {
                clicks.add(k);
            }
        }
        return clicks;
    }

    /** How many of {@code clicks} have converted by {@code t}. */
    int arrived(List<Integer> clicks, long t) {
        int arrived = 0;
        for (int k : clicks) {
            if (FeedbackBench.converted(imps[k]) && imps[k].conversionTs() < t) {
                arrived++;
            }
        }
        return arrived;
    }

    /**
     * The conversions that the predictions {@code p} of {@code clicks} (in their order) expect by
     * {@code t}: each prediction times the chance that its conversion has come by then.
     */
    double expected(List<Integer> clicks, double[] p, long t) {
        double expected = 0;
        for (int r = 0; r < clicks.size(); r++) {
            expected += p[r] * DelayedCalibration.arrivedBy(t - imps[clicks.get(r)].clickTs());
        }
        return expected;
    }
}
