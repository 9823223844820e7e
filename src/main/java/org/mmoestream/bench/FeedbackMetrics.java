package org.mmoestream.bench;

import static org.mmoestream.bench.FeedbackBench.HEADS;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.Batch;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.TaskMetrics;
import org.mmoestream.simulate.DriftingSimulator;
import org.mmoestream.simulate.DriftingSimulator.Impression;

/**
 * Serving-time metrics per head over the scored hours after the first: overall and per hour, the
 * hourly calibration against the final labels and, without their noise, against the simulator's
 * hidden probabilities of the same impressions (the truth ratio: the predictions' sum over the
 * hidden probabilities' sum).
 */
final class FeedbackMetrics {
    /** What one mode measured. */
    record Result(
            double[] auc,
            double[] logLoss,
            double[] calibration,
            double[] minHourCalibration,
            double[] maxHourCalibration,
            double[] minHourTruthCalibration,
            double[] maxHourTruthCalibration,
            double[][] hourly,
            double[][] truthRatioHourly,
            double[][][] truthRatioHalves,
            double[][] truthRatioByAge,
            long latencyP50,
            long latencyP99,
            long examples) {}

    /** Issue 13's bar: each hour's calibration after the first within these bounds (inclusive). */
    static final double BAR_LOW = 0.95;

    static final double BAR_HIGH = 1.05;

    /** Bounds of the item-age buckets of the truth ratio, in hours. */
    static final long[] AGE_BOUNDS = {0, 4, 8, 16, 32, Long.MAX_VALUE};

    /** The bucket of {@link #AGE_BOUNDS} that an item's age (milliseconds) falls in. */
    static int ageBucket(long itemAge) {
        int a = 0;
        while (a < AGE_BOUNDS.length - 2 && itemAge >= AGE_BOUNDS[a + 1] * DriftingSimulator.HOUR) {
            a++;
        }
        return a;
    }

    final TaskMetrics[] overall = new TaskMetrics[HEADS.length];
    final double[][] sumP;
    final double[][] sumY;
    final double[][] sumTruth;
    /** Per head and item-age bucket ({@link #AGE_BOUNDS}), over the hours after the first. */
    final double[][] sumPByAge;

    final double[][] sumTruthByAge;
    /** Per head, item half (the item's index even or odd) and hour: predictions and hidden probabilities. */
    final double[][][] sumPByHalf;

    final double[][][] sumTruthByHalf;
    /** Per head, the served prediction of each impression (NaN: not scored); null unless kept. */
    float[][] served;
    /** The experiments on, for the features an impression is served with (null: its own). */
    FeedbackExperiments experiments;

    FeedbackMetrics(int hours) {
        for (int h = 0; h < HEADS.length; h++) {
            overall[h] = new TaskMetrics();
        }
        sumP = new double[HEADS.length][hours + 1];
        sumY = new double[HEADS.length][hours + 1];
        sumTruth = new double[HEADS.length][hours + 1];
        sumPByAge = new double[HEADS.length][AGE_BOUNDS.length - 1];
        sumTruthByAge = new double[HEADS.length][AGE_BOUNDS.length - 1];
        sumPByHalf = new double[HEADS.length][2][hours + 1];
        sumTruthByHalf = new double[HEADS.length][2][hours + 1];
    }

    void add(int head, int hour, int ageBucket, int half, double p, boolean positive, double truth) {
        if (hour >= 1) {
            overall[head].add(p, positive);
            sumPByAge[head][ageBucket] += p;
            sumTruthByAge[head][ageBucket] += truth;
        }
        sumP[head][hour] += p;
        sumY[head][hour] += positive ? 1 : 0;
        sumTruth[head][hour] += truth;
        sumPByHalf[head][half][hour] += p;
        sumTruthByHalf[head][half][hour] += truth;
    }

    /** The figures; {@code truth}: the predictions are the hidden probabilities (no truth ratio). */
    Result result(long p50, long p99, long examples, boolean truth) {
        int heads = HEADS.length;
        double[] auc = new double[heads];
        double[] ll = new double[heads];
        double[] cal = new double[heads];
        double[] min = new double[heads];
        double[] max = new double[heads];
        double[] minTruth = new double[heads];
        double[] maxTruth = new double[heads];
        double[][] hourly = new double[heads][];
        double[][] truthHourly = new double[heads][];
        double[][][] truthHalves = new double[heads][2][];
        double[][] byAge = new double[heads][];
        for (int h = 0; h < heads; h++) {
            auc[h] = overall[h].auc();
            ll[h] = overall[h].logLoss();
            cal[h] = overall[h].calibration();
            hourly[h] = ratios(sumP[h], sumY[h]);
            double[] range = range(hourly[h], 1);
            min[h] = range[0];
            max[h] = range[1];
            truthHourly[h] = ratios(sumP[h], sumTruth[h]);
            for (int half = 0; half < 2; half++) {
                truthHalves[h][half] = ratios(sumPByHalf[h][half], sumTruthByHalf[h][half]);
            }
            double[] truthRange = truth ? new double[] {Double.NaN, Double.NaN} : range(truthHourly[h], 1);
            byAge[h] = ratios(sumPByAge[h], sumTruthByAge[h]);
            minTruth[h] = truthRange[0];
            maxTruth[h] = truthRange[1];
        }
        return new Result(
                auc,
                ll,
                cal,
                min,
                max,
                minTruth,
                maxTruth,
                hourly,
                truthHourly,
                truthHalves,
                byAge,
                p50,
                p99,
                examples);
    }

    /** Per hour {@code num / den} (NaN where {@code den} is 0). */
    private static double[] ratios(double[] num, double[] den) {
        double[] r = new double[num.length];
        for (int hour = 0; hour < r.length; hour++) {
            r[hour] = den[hour] > 0 ? num[hour] / den[hour] : Double.NaN;
        }
        return r;
    }

    /** The lowest and highest of {@code ratios} from hour {@code first} on. */
    private static double[] range(double[] ratios, int first) {
        double min = Double.MAX_VALUE;
        double max = -Double.MAX_VALUE;
        for (int hour = first; hour < ratios.length; hour++) {
            if (!Double.isNaN(ratios[hour])) {
                min = Math.min(min, ratios[hour]);
                max = Math.max(max, ratios[hour]);
            }
        }
        return new double[] {min, max};
    }

    /**
     * Of the hours of {@code ratios} after the first that have a ratio (not NaN): how many are outside
     * {@link #BAR_LOW}-{@link #BAR_HIGH}, and how many there are. Exact, not as printed: an hour whose
     * line reads 0.950 may be just below the bar.
     */
    static int[] barCount(double[] ratios) {
        int outside = 0;
        int counted = 0;
        for (int hour = 1; hour < ratios.length; hour++) {
            if (!Double.isNaN(ratios[hour])) {
                counted++;
                if (ratios[hour] < BAR_LOW || ratios[hour] > BAR_HIGH) {
                    outside++;
                }
            }
        }
        return new int[] {outside, counted};
    }

    /** Adds the predictions of impression {@code im}, each head against its final label. */
    void add(Impression im, long scoredFrom, double ctr, double cvr, double ctcvr) {
        int hour = (int) ((im.ts() - scoredFrom) / DriftingSimulator.HOUR);
        boolean click = FeedbackBench.clicked(im);
        boolean conversion = FeedbackBench.converted(im);
        double trueCtr = DriftingSimulator.clickedWithin(im, FeedbackBench.CLICK_WINDOW);
        double trueCvr = DriftingSimulator.convertedWithin(im, FeedbackBench.CONVERSION_WINDOW);
        int age = ageBucket(im.itemAge());
        int half = im.item() & 1;
        add(0, hour, age, half, ctr, click, trueCtr);
        if (click) {
            add(1, hour, age, half, cvr, conversion, trueCvr);
        }
        add(2, hour, age, half, ctcvr, conversion, trueCtr * trueCvr);
    }

    /**
     * Scores the impressions of {@code toScore} with the model as it is now, in slices of 4,096 (a
     * long stretch between two versions of the pipeline's model fits in memory), and clears it;
     * serves {@code serve} of the model's predictions (per head and row).
     */
    void score(
            MmoeModel model,
            ExampleEncoder encoder,
            Impression[] imps,
            List<Integer> toScore,
            int[] heads,
            long scoredFrom,
            UnaryOperator<double[][]> serve) {
        for (int from = 0; from < toScore.size(); from += 4096) {
            List<Integer> slice = toScore.subList(from, Math.min(toScore.size(), from + 4096));
            List<EncodedExample> rows = new ArrayList<>(slice.size());
            for (int k : slice) {
                rows.add(encoder.encodeFeatures(
                        experiments == null ? imps[k].featuresJson() : experiments.features(imps[k], imps[k].ts()),
                        null));
            }
            addScores(serve.apply(model.predict(Batch.of(rows))), imps, slice, heads, scoredFrom);
        }
        toScore.clear();
    }

    /** Adds the predictions {@code p} of the impressions {@code slice} per head and hour. */
    private void addScores(double[][] p, Impression[] imps, List<Integer> slice, int[] heads, long scoredFrom) {
        for (int r = 0; r < slice.size(); r++) {
            // Without ESMM the served pCTCVR is the product of the two heads.
            double ctcvr = heads[2] >= 0 ? p[heads[2]][r] : p[heads[0]][r] * p[heads[1]][r];
            // Impressions before the scored days are served only (for the calibrations that learn from them).
            if (imps[slice.get(r)].ts() >= scoredFrom) {
                add(imps[slice.get(r)], scoredFrom, p[heads[0]][r], p[heads[1]][r], ctcvr);
            }
            if (served != null) {
                served[0][slice.get(r)] = (float) p[heads[0]][r];
                served[1][slice.get(r)] = (float) p[heads[1]][r];
                served[2][slice.get(r)] = (float) ctcvr;
            }
        }
    }

    /**
     * Per head of {@code r}: AUC, log-loss, calibration, its hourly range and how many of the hours
     * after the first are outside {@link #BAR_LOW}-{@link #BAR_HIGH} (of how many with labels), named
     * {@code prefix.<head>.*}; with {@code hourly} also each hour's calibration and truth ratio.
     */
    static void printHeads(PrintStream out, String prefix, Result r, boolean hourly) {
        for (int h = 0; h < HEADS.length; h++) {
            String p = prefix + "." + HEADS[h];
            out.printf(Locale.ROOT, "%s.auc %.4f ratio%n", p, r.auc[h]);
            out.printf(Locale.ROOT, "%s.logloss %.4f nats%n", p, r.logLoss[h]);
            out.printf(Locale.ROOT, "%s.calibration %.3f ratio%n", p, r.calibration[h]);
            out.printf(Locale.ROOT, "%s.calibration_hourly_min %.3f ratio%n", p, r.minHourCalibration[h]);
            out.printf(Locale.ROOT, "%s.calibration_hourly_max %.3f ratio%n", p, r.maxHourCalibration[h]);
            int[] bar = barCount(r.hourly[h]);
            out.printf(Locale.ROOT, "%s.calibration_hours_outside_bar %d count%n", p, bar[0]);
            out.printf(Locale.ROOT, "%s.calibration_hours %d count%n", p, bar[1]);
            if (!Double.isNaN(r.minHourTruthCalibration[h])) {
                out.printf(Locale.ROOT, "%s.truth_ratio_hourly_min %.3f ratio%n", p, r.minHourTruthCalibration[h]);
                out.printf(Locale.ROOT, "%s.truth_ratio_hourly_max %.3f ratio%n", p, r.maxHourTruthCalibration[h]);
                for (int a = 0; a < AGE_BOUNDS.length - 1; a++) {
                    out.printf(
                            Locale.ROOT,
                            "%s.truth_ratio_item_age_%s %.3f ratio%n",
                            p,
                            AGE_BOUNDS[a + 1] == Long.MAX_VALUE
                                    ? AGE_BOUNDS[a] + "h_up"
                                    : AGE_BOUNDS[a] + "_" + AGE_BOUNDS[a + 1] + "h",
                            r.truthRatioByAge[h][a]);
                }
            }
            if (hourly) {
                for (int hour = 1; hour < r.hourly[h].length; hour++) {
                    out.printf(Locale.ROOT, "%s.hour%d.calibration %.3f ratio%n", p, hour, r.hourly[h][hour]);
                    out.printf(Locale.ROOT, "%s.hour%d.truth_ratio %.4f ratio%n", p, hour, r.truthRatioHourly[h][hour]);
                }
            }
        }
    }
}
