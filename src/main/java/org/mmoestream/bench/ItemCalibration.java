package org.mmoestream.bench;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Locale;
import java.util.stream.IntStream;
import org.mmoestream.model.TaskMetrics;
import org.mmoestream.simulate.DriftingSimulator;
import org.mmoestream.simulate.DriftingSimulator.Impression;

/**
 * An experiment of {@code bench feedback} (docs/fresh-labels-calibration.md): a calibration of each
 * item's served conversion predictions on the conversions that have arrived from that item's
 * clicks, kept beside the network as a serving system could keep it per item. At the start of each
 * hour it weighs, per item, every earlier scored click's evidence by {@code exp(-age / memory)} and
 * serves the hour's conversion predictions of the item (and its ctcvr, ESMM's product) times {@code
 * (prior + arrived) / (prior + expected)}: {@code arrived} the weighed conversions of those clicks
 * that have come by then, {@code expected} what the clicks' served predictions expect by then (each
 * times the chance that its conversion has come, as {@link DelayedCalibration} does for all items
 * at once; Chapelle, KDD 2014), and {@code prior} a pseudo-count of expected conversions that keeps
 * an item with little evidence near 1 (the posterior mean of a Poisson rate's multiplier under a
 * Gamma prior of mean 1). It asks whether the model's errors on each item, which last hours
 * (docs/fresh-labels-calibration.md), are what the delayed conversions of the item can correct.
 */
final class ItemCalibration {
    /** Evidence weighing less than this is left out. */
    private static final double NEGLIGIBLE = 1e-4;

    private final Impression[] imps;
    /** The served predictions per head (ctr, cvr, ctcvr) and impression (NaN: not scored). */
    private final float[][] served;

    private final long scoredFrom;
    private final int items;
    /** The scored clicked impressions, by click time. */
    private final int[] clicks;

    ItemCalibration(Impression[] imps, float[][] served, long scoredFrom) {
        this.imps = imps;
        this.served = served;
        this.scoredFrom = scoredFrom;
        this.items = Arrays.stream(imps).mapToInt(Impression::item).max().orElse(-1) + 1;
        this.clicks = IntStream.range(0, imps.length)
                .filter(k -> !Float.isNaN(served[1][k]) && FeedbackBench.clicked(imps[k]))
                .boxed()
                .sorted(Comparator.comparingLong(k -> imps[k].clickTs()))
                .mapToInt(Integer::intValue)
                .toArray();
    }

    /**
     * The factor of each item at the start of each of {@code hours} from {@code scoredFrom}, from the
     * clicks and conversions before then: {@code [hour][item]}.
     */
    float[][] factors(int hours, long memory, double prior) {
        float[][] factor = new float[hours][items];
        double[] arrived = new double[items];
        double[] expected = new double[items];
        long horizon = (long) (memory * -Math.log(NEGLIGIBLE));
        int from = 0;
        for (int hour = 0; hour < hours; hour++) {
            long t = scoredFrom + hour * DriftingSimulator.HOUR;
            Arrays.fill(arrived, 0);
            Arrays.fill(expected, 0);
            while (from < clicks.length && imps[clicks[from]].clickTs() < t - horizon) {
                from++;
            }
            for (int c = from; c < clicks.length && imps[clicks[c]].clickTs() < t; c++) {
                Impression im = imps[clicks[c]];
                long age = t - im.clickTs();
                double w = Math.exp(-(double) age / memory);
                if (FeedbackBench.converted(im) && im.conversionTs() < t) {
                    arrived[im.item()] += w;
                }
                expected[im.item()] += w * served[1][clicks[c]] * DelayedCalibration.arrivedBy(age);
            }
            for (int i = 0; i < items; i++) {
                factor[hour][i] = (float) ((prior + arrived[i]) / (prior + expected[i]));
            }
        }
        return factor;
    }

    /**
     * The hourly figures over the hours after the first of the conversion head (index 0: its clicked
     * scored impressions) and of ctcvr (1: every scored impression), served times {@code factor}
     * ({@code null}: as served).
     */
    Figures[] figures(int hours, float[][] factor) {
        Figures[] f = {new Figures(hours), new Figures(hours)};
        for (int k = 0; k < imps.length; k++) {
            if (Float.isNaN(served[1][k])) {
                continue;
            }
            Impression im = imps[k];
            int hour = (int) ((im.ts() - scoredFrom) / DriftingSimulator.HOUR);
            if (hour >= hours) {
                continue;
            }
            double by = factor == null ? 1 : factor[hour][im.item()];
            double trueCvr = DriftingSimulator.convertedWithin(im, FeedbackBench.CONVERSION_WINDOW);
            boolean conversion = FeedbackBench.converted(im);
            if (FeedbackBench.clicked(im)) {
                f[0].add(hour, Math.min(1, served[1][k] * by), conversion, trueCvr);
            }
            double trueCtr = DriftingSimulator.clickedWithin(im, FeedbackBench.CLICK_WINDOW);
            f[1].add(hour, Math.min(1, served[2][k] * by), conversion, trueCtr * trueCvr);
        }
        return f;
    }

    /** One head's sums per hour (predictions, labels, hidden probabilities) and its metrics over all. */
    static final class Figures {
        final double[] p;
        final double[] y;
        final double[] truth;
        final TaskMetrics metrics = new TaskMetrics();

        Figures(int hours) {
            p = new double[hours];
            y = new double[hours];
            truth = new double[hours];
        }

        void add(int hour, double prediction, boolean label, double hidden) {
            p[hour] += prediction;
            y[hour] += label ? 1 : 0;
            truth[hour] += hidden;
            if (hour >= 1) {
                metrics.add(Math.max(1e-7, prediction), label);
            }
        }

        /** The hourly truth ratios from the second hour (those with labels). */
        double[] truthRatios() {
            return DelayedCalibration.truthRatios(p, y, truth, 1);
        }

        /** Prints this head's figures as {@code prefix.<figure>} lines. */
        void print(PrintStream out, String prefix) {
            double[] f = DelayedCalibration.figures(p, y, truth, 1);
            out.printf(Locale.ROOT, "%s.auc %.4f ratio%n", prefix, metrics.auc());
            out.printf(Locale.ROOT, "%s.calibration %.4f ratio%n", prefix, metrics.calibration());
            for (int i = 0; i < f.length; i++) {
                out.printf(Locale.ROOT, "%s.%s %.4f ratio%n", prefix, DelayedCalibration.FIGURES[i], f[i]);
            }
        }
    }

    /**
     * Prints, for {@code mode}'s cvr and ctcvr, the figures as served ({@code
     * .item_calibration.raw.*}) and at each memory (hours) and prior ({@code
     * .item_calibration_<memory>h_prior<prior>.*}).
     */
    void print(PrintStream out, String mode, int hours, int[] memories, double[] priors) {
        String[] heads = {"cvr", "ctcvr"};
        Figures[] raw = figures(hours, null);
        for (int h = 0; h < heads.length; h++) {
            raw[h].print(out, "feedback." + mode + "." + heads[h] + ".item_calibration.raw");
        }
        for (int memory : memories) {
            for (double prior : priors) {
                Figures[] calibrated = figures(hours, factors(hours, memory * DriftingSimulator.HOUR, prior));
                for (int h = 0; h < heads.length; h++) {
                    calibrated[h].print(
                            out,
                            String.format(
                                    Locale.ROOT,
                                    "feedback.%s.%s.item_calibration_%dh_prior%s",
                                    mode,
                                    heads[h],
                                    memory,
                                    FeedbackExperiments.name(prior)));
                }
            }
        }
    }
}
