package org.mmoestream.bench;

import static org.mmoestream.bench.FeedbackBench.HEADS;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import org.apache.commons.math3.stat.correlation.PearsonsCorrelation;
import org.apache.commons.math3.stat.descriptive.moment.StandardDeviation;
import org.mmoestream.simulate.DriftingSimulator;
import org.mmoestream.simulate.DriftingSimulator.Impression;

/**
 * Where {@code bench feedback}'s hourly conversion errors come from
 * (docs/fresh-labels-calibration.md): how they follow the noise of the conversions that arrive in
 * each hour, the noise of the hour's own labels, and whether the items share them.
 */
final class ArrivalNoise {
    private ArrivalNoise() {}

    /**
     * What the conversion heads' hourly errors follow: per mode and conversion head, the standard
     * deviation over the scored hours after the first of the truth ratio (predictions over the hidden
     * probabilities), and its correlation with the noise of the conversions that arrive in the hour
     * (the positives an early mode trains on then, of impressions hours before) and with the noise of
     * the final labels of the hour's own impressions (what the hour's calibration is measured
     * against); and the correlation of the truth ratios of the two halves of the items (index even or
     * odd, launched alternately): near 1 when the hour's error is the model's overall level, which
     * every item shares, near 0 when it is each item's own; and the truth ratio's correlation with
     * itself an hour later ({@link #lagOneCorrelation}): near 0 when each hour's error is that hour's
     * own (a level that follows the last minutes' positives), near 1 when it wanders over hours. A
     * noise is the hour's count over its expectation: the arrivals' over their mean in the 12 hours
     * around it, the labels' over the hidden probabilities' sum.
     */
    static void print(
            PrintStream out,
            Impression[] imps,
            long scoredFrom,
            int hours,
            FeedbackMetrics.Result truth,
            Map<String, FeedbackMetrics.Result> results) {
        double[] arrivals =
                Arrays.copyOfRange(overNeighbours(conversionsArriving(imps, scoredFrom, hours), 6), 1, hours);
        StandardDeviation sd = new StandardDeviation(false);
        PearsonsCorrelation correlation = new PearsonsCorrelation();
        out.printf(Locale.ROOT, "feedback.conversion_arrivals_hourly_sd %.4f ratio%n", sd.evaluate(arrivals));
        // Per conversion head, the same for every mode: the hour's labels over the hidden probabilities.
        double[][] labelsNoise = new double[HEADS.length][hours - 1];
        for (int h = 1; h < HEADS.length; h++) {
            for (int hour = 1; hour < hours; hour++) {
                labelsNoise[h][hour - 1] = 1 / truth.hourly()[h][hour];
            }
        }
        for (var e : results.entrySet()) {
            for (int h = 1; h < HEADS.length; h++) {
                double[] ratio = Arrays.copyOfRange(e.getValue().truthRatioHourly()[h], 1, hours);
                String p = "feedback." + e.getKey() + "." + HEADS[h];
                out.printf(Locale.ROOT, "%s.truth_ratio_hourly_sd %.4f ratio%n", p, sd.evaluate(ratio));
                out.printf(
                        Locale.ROOT,
                        "%s.truth_ratio_arrivals_correlation %.2f ratio%n",
                        p,
                        correlation.correlation(ratio, arrivals));
                out.printf(
                        Locale.ROOT,
                        "%s.truth_ratio_labels_correlation %.2f ratio%n",
                        p,
                        correlation.correlation(ratio, labelsNoise[h]));
                out.printf(
                        Locale.ROOT, "%s.truth_ratio_hourly_autocorrelation %.2f ratio%n", p, lagOneCorrelation(ratio));
                double[][] halves = e.getValue().truthRatioHalves()[h];
                out.printf(
                        Locale.ROOT,
                        "%s.truth_ratio_item_halves_correlation %.2f ratio%n",
                        p,
                        correlation.correlation(
                                Arrays.copyOfRange(halves[0], 1, hours), Arrays.copyOfRange(halves[1], 1, hours)));
            }
        }
    }

    /** The Pearson correlation of each of {@code series} but the last with the one after it; NaN below 3. */
    static double lagOneCorrelation(double[] series) {
        if (series.length < 3) {
            return Double.NaN;
        }
        return new PearsonsCorrelation()
                .correlation(
                        Arrays.copyOfRange(series, 0, series.length - 1), Arrays.copyOfRange(series, 1, series.length));
    }

    /**
     * Per hour from {@code from}, the conversions within their windows (as the labels) whose event
     * time falls in it, of impressions of any hour: the positives an early mode trains on then.
     */
    static double[] conversionsArriving(Impression[] imps, long from, int hours) {
        double[] arrived = new double[hours];
        for (Impression im : imps) {
            long at = FeedbackBench.converted(im) ? im.conversionTs() - from : -1;
            if (at >= 0 && at < hours * DriftingSimulator.HOUR) {
                arrived[(int) (at / DriftingSimulator.HOUR)]++;
            }
        }
        return arrived;
    }

    /**
     * Each of {@code counts} over the mean of the {@code reach} on either side of it (fewer at the
     * ends): an hour's count over what the hours around it expect.
     */
    static double[] overNeighbours(double[] counts, int reach) {
        double[] r = new double[counts.length];
        for (int i = 0; i < counts.length; i++) {
            double around = 0;
            int n = 0;
            for (int k = Math.max(0, i - reach); k <= Math.min(counts.length - 1, i + reach); k++) {
                if (k != i) {
                    around += counts[k];
                    n++;
                }
            }
            r[i] = counts[i] / (around / n);
        }
        return r;
    }
}
