package org.mmoestream.bench;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.IntStream;
import org.apache.commons.math3.stat.descriptive.moment.StandardDeviation;
import org.mmoestream.simulate.DriftingSimulator;
import org.mmoestream.simulate.DriftingSimulator.Impression;

/**
 * An experiment of {@code bench feedback} (docs/fresh-labels-calibration.md): what a calibration of
 * the served conversion predictions on the conversions that have arrived so far would do to a
 * mode's hourly calibration, without waiting for the labels to mature. At the start of each hour it
 * compares the conversions that have arrived from the clicks of the last {@code window} with the
 * number the served predictions expect by now: each click's prediction times the chance that a
 * conversion within the window has come by then (Chapelle, KDD 2014), from the simulator's delay
 * distribution (a job would estimate it), and serves the hour's conversion predictions times their
 * ratio.
 */
final class DelayedCalibration {
    /** The names of the hourly figures that {@link #figures} gives, in its order. */
    static final String[] FIGURES = {
        "calibration_hourly_min",
        "calibration_hourly_max",
        "truth_ratio_hourly_min",
        "truth_ratio_hourly_max",
        "truth_ratio_hourly_sd"
    };

    private final Impression[] imps;
    /** The served conversion prediction of each impression (NaN: not scored). */
    private final float[] served;

    private final long scoredFrom;
    private final long window;

    DelayedCalibration(Impression[] imps, float[] served, long scoredFrom, long window) {
        this.imps = imps;
        this.served = served;
        this.scoredFrom = scoredFrom;
        this.window = window;
    }

    /**
     * The hourly figures of the conversion head from the first hour with a whole window of scored
     * clicks: {min, max} against the labels, then against the hidden probabilities, then the truth
     * ratio's standard deviation; raw then calibrated.
     */
    record Ranges(double[] raw, double[] calibrated, int firstHour) {
        /** Prints the conversion head's hourly figures of {@code mode} over {@code window} hours. */
        void print(PrintStream out, String mode, int window) {
            String p = "feedback." + mode + ".cvr.delayed_calibration_" + window + "h";
            for (int i = 0; i < FIGURES.length; i++) {
                out.printf(Locale.ROOT, "%s.raw.%s %.4f ratio%n", p, FIGURES[i], raw[i]);
                out.printf(Locale.ROOT, "%s.calibrated.%s %.4f ratio%n", p, FIGURES[i], calibrated[i]);
            }
            out.printf(Locale.ROOT, "%s.first_hour %d count%n", p, firstHour);
        }
    }

    /** The chance that a conversion within the conversion window has come {@code elapsed} after its click. */
    static double arrivedBy(long elapsed) {
        long window = FeedbackBench.CONVERSION_WINDOW;
        return DriftingSimulator.conversionDelayWithin(Math.min(elapsed, window))
                / DriftingSimulator.conversionDelayWithin(window);
    }

    Ranges ranges(int hours) {
        double[] factor = new double[hours];
        Arrays.fill(factor, 1);
        ClickWindow clicks = new ClickWindow(imps, window);
        for (int hour = 0; hour < hours; hour++) {
            long t = scoredFrom + hour * DriftingSimulator.HOUR;
            List<Integer> scored = clicks.clicks(t, k -> !Float.isNaN(served[k]));
            double[] p = new double[scored.size()];
            for (int r = 0; r < p.length; r++) {
                p[r] = served[scored.get(r)];
            }
            double expected = clicks.expected(scored, p, t);
            if (expected > 0) {
                factor[hour] = clicks.arrived(scored, t) / expected;
            }
        }
        double[] p = new double[hours];
        double[] c = new double[hours];
        double[] y = new double[hours];
        double[] truth = new double[hours];
        for (int k = 0; k < imps.length; k++) {
            Impression im = imps[k];
            if (Float.isNaN(served[k]) || !FeedbackBench.clicked(im)) {
                continue;
            }
            int hour = (int) ((im.ts() - scoredFrom) / DriftingSimulator.HOUR);
            p[hour] += served[k];
            c[hour] += Math.min(1, served[k] * factor[hour]);
            y[hour] += FeedbackBench.converted(im) ? 1 : 0;
            truth[hour] += DriftingSimulator.convertedWithin(im, FeedbackBench.CONVERSION_WINDOW);
        }
        int first = (int) Math.ceil((double) window / DriftingSimulator.HOUR) + 1;
        return new Ranges(figures(p, y, truth, first), figures(c, y, truth, first), first);
    }

    /**
     * {min, max} of {@code p / y}, {min, max} of {@code p / truth} ({@link MaturedCalibration#range})
     * and the latter's standard deviation, from {@code first}.
     */
    static double[] figures(double[] p, double[] y, double[] truth, int first) {
        double[] r = Arrays.copyOf(MaturedCalibration.range(p, y, truth, first), 5);
        r[4] = new StandardDeviation(false).evaluate(truthRatios(p, y, truth, first));
        return r;
    }

    /** The hourly {@code p / truth} from {@code first}, of the hours with labels. */
    static double[] truthRatios(double[] p, double[] y, double[] truth, int first) {
        return IntStream.range(first, p.length)
                .filter(h -> y[h] > 0 && truth[h] > 0)
                .mapToDouble(h -> p[h] / truth[h])
                .toArray();
    }
}
