package org.mmoestream.bench;

import java.io.PrintStream;
import java.util.Locale;
import org.mmoestream.simulate.DriftingSimulator;
import org.mmoestream.simulate.DriftingSimulator.Impression;

/**
 * An experiment of {@code bench feedback} (docs/fresh-labels-calibration.md): what a calibration of
 * the served predictions on matured labels, per item-age bucket, would do to a mode's hourly
 * calibration. Each scored impression's prediction is multiplied, per head, by the ratio of labels
 * to predictions over the impressions of the same age bucket whose labels had become final
 * (impression + click and conversion windows) within the last {@code window} before it: only what a
 * serving system could know at the impression. Impressions served before {@code scoredFrom} (the
 * bench serves the warm-up's when the experiment is on) teach the factors only. Hours before the
 * first full window of matured impressions are left out of the ranges, raw and calibrated alike.
 */
final class MaturedCalibration {
    /** Labels of a bucket the factor needs before it moves away from 1. */
    private static final double MIN_LABELS = 30;

    private final Impression[] imps;
    /** Per head, the served prediction of each impression (NaN: not scored). */
    private final float[][] served;

    private final long scoredFrom;
    private final long window;

    MaturedCalibration(Impression[] imps, float[][] served, long scoredFrom, long window) {
        this.imps = imps;
        this.served = served;
        this.scoredFrom = scoredFrom;
        this.window = window;
    }

    /** Per head {min, max} of the hourly calibration against the labels and against the truth, raw then calibrated. */
    record Ranges(double[][] raw, double[][] calibrated, int firstHour) {
        /** Prints the hourly ranges of {@code mode}, raw and calibrated, per head. */
        void print(PrintStream out, String mode) {
            for (int h = 0; h < FeedbackBench.HEADS.length; h++) {
                String p = "feedback." + mode + "." + FeedbackBench.HEADS[h] + ".matured_calibration";
                String[] what = {
                    "calibration_hourly_min",
                    "calibration_hourly_max",
                    "truth_ratio_hourly_min",
                    "truth_ratio_hourly_max"
                };
                for (int i = 0; i < what.length; i++) {
                    out.printf(Locale.ROOT, "%s.raw.%s %.3f ratio%n", p, what[i], raw[h][i]);
                    out.printf(Locale.ROOT, "%s.calibrated.%s %.3f ratio%n", p, what[i], calibrated[h][i]);
                }
            }
            out.printf(Locale.ROOT, "feedback.%s.matured_calibration.first_hour %d count%n", mode, firstHour);
        }
    }

    Ranges ranges(int hours) {
        long horizon = FeedbackBench.CLICK_WINDOW + FeedbackBench.CONVERSION_WINDOW;
        int heads = served.length;
        int buckets = FeedbackMetrics.AGE_BOUNDS.length - 1;
        double[][] sumP = new double[heads][buckets];
        double[][] sumY = new double[heads][buckets];
        // Per head and hour: predictions raw and calibrated, labels and hidden probabilities.
        double[][] p = new double[heads][hours];
        double[][] c = new double[heads][hours];
        double[][] y = new double[heads][hours];
        double[][] t = new double[heads][hours];
        int matured = 0;
        int dropped = 0;
        for (int k = 0; k < imps.length; k++) {
            Impression im = imps[k];
            while (imps[matured].ts() + horizon <= im.ts()) {
                count(matured++, sumP, sumY, 1);
            }
            while (imps[dropped].ts() + horizon + window <= im.ts()) {
                count(dropped++, sumP, sumY, -1);
            }
            if (Float.isNaN(served[0][k]) || im.ts() < scoredFrom) {
                continue;
            }
            int hour = (int) ((im.ts() - scoredFrom) / DriftingSimulator.HOUR);
            int a = FeedbackMetrics.ageBucket(im.itemAge());
            boolean click = FeedbackBench.clicked(im);
            boolean conversion = FeedbackBench.converted(im);
            double trueCtr = DriftingSimulator.clickedWithin(im, FeedbackBench.CLICK_WINDOW);
            double trueCvr = DriftingSimulator.convertedWithin(im, FeedbackBench.CONVERSION_WINDOW);
            for (int h = 0; h < heads; h++) {
                if (!counts(h, click)) {
                    continue;
                }
                double factor = sumY[h][a] >= MIN_LABELS ? sumY[h][a] / sumP[h][a] : 1;
                p[h][hour] += served[h][k];
                c[h][hour] += Math.min(1, served[h][k] * factor);
                y[h][hour] += label(h, click, conversion);
                t[h][hour] += h == 0 ? trueCtr : h == 1 ? trueCvr : trueCtr * trueCvr;
            }
        }
        long servedFrom = scoredFrom;
        for (int k = 0; k < imps.length; k++) {
            if (!Float.isNaN(served[0][k])) {
                servedFrom = imps[k].ts();
                break;
            }
        }
        int first = Math.max(1, (int) ((servedFrom + horizon + window - scoredFrom) / DriftingSimulator.HOUR) + 1);
        double[][] raw = new double[heads][];
        double[][] calibrated = new double[heads][];
        for (int h = 0; h < heads; h++) {
            raw[h] = range(p[h], y[h], t[h], first);
            calibrated[h] = range(c[h], y[h], t[h], first);
        }
        return new Ranges(raw, calibrated, first);
    }

    /** Adds ({@code sign} 1) or removes (-1) the matured impression {@code k} to the buckets' sums. */
    private void count(int k, double[][] sumP, double[][] sumY, int sign) {
        if (Float.isNaN(served[0][k])) {
            return;
        }
        Impression im = imps[k];
        int a = FeedbackMetrics.ageBucket(im.itemAge());
        boolean click = FeedbackBench.clicked(im);
        boolean conversion = FeedbackBench.converted(im);
        for (int h = 0; h < served.length; h++) {
            if (counts(h, click)) {
                sumP[h][a] += sign * served[h][k];
                sumY[h][a] += sign * label(h, click, conversion);
            }
        }
    }

    /** Whether head {@code h} (ctr, cvr, ctcvr) measures an impression: cvr only a clicked one. */
    private static boolean counts(int h, boolean click) {
        return h != 1 || click;
    }

    /** The final label of head {@code h}: the click for ctr, the conversion for cvr and ctcvr. */
    private static int label(int h, boolean click, boolean conversion) {
        return (h == 0 ? click : conversion) ? 1 : 0;
    }

    /** {min, max} over the hours from {@code first} of predictions over labels, then over hidden probabilities. */
    static double[] range(double[] p, double[] y, double[] t, int first) {
        double[] r = {Double.MAX_VALUE, -Double.MAX_VALUE, Double.MAX_VALUE, -Double.MAX_VALUE};
        for (int hour = first; hour < p.length; hour++) {
            if (y[hour] > 0 && t[hour] > 0) {
                r[0] = Math.min(r[0], p[hour] / y[hour]);
                r[1] = Math.max(r[1], p[hour] / y[hour]);
                r[2] = Math.min(r[2], p[hour] / t[hour]);
                r[3] = Math.max(r[3], p[hour] / t[hour]);
            }
        }
        return r;
    }
}
