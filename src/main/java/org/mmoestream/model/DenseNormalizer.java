package org.mmoestream.model;

import java.util.List;
import org.mmoestream.feature.DenseFeature;
import org.mmoestream.feature.DenseTransform;

/**
 * Streaming standardization of the dense features declared {@code standardize}: a running mean
 * and variance (Welford's algorithm) updated on every training batch before it is used, so a value
 * enters the model as (x - mean) / sqrt(var + 1e-8); before any data, mean 0 and variance 1. A
 * missing value (NaN from the encoder) is left out of the statistics and enters the model as 0,
 * the mean. The other dense features pass through (their transform ran in the encoder).
 */
public final class DenseNormalizer {
    private final boolean[] standardize;
    private final double[] count;
    private final double[] mean;
    private final double[] m2;

    public DenseNormalizer(List<DenseFeature> features) {
        int n = features.size();
        standardize = new boolean[n];
        for (int i = 0; i < n; i++) {
            standardize[i] = features.get(i).transform() == DenseTransform.STANDARDIZE;
        }
        count = new double[n];
        mean = new double[n];
        m2 = new double[n];
    }

    /** Folds a batch's values into the running statistics. */
    public void update(Batch b) {
        int n = standardize.length;
        for (int i = 0; i < n; i++) {
            if (!standardize[i]) {
                continue;
            }
            for (int r = 0; r < b.rows; r++) {
                double x = b.dense[r * n + i];
                if (Double.isNaN(x)) {
                    continue;
                }
                count[i] += 1;
                double delta = x - mean[i];
                mean[i] += delta / count[i];
                m2[i] += delta * (x - mean[i]);
            }
        }
    }

    /**
     * The statistics of one batch's values alone, per feature (count, mean, sum of squared
     * deviations) as {@link #mergeAll} takes them; zeros for features that are not standardized.
     */
    public double[] batchStatistics(Batch b) {
        int n = standardize.length;
        double[] out = new double[3 * n];
        for (int i = 0; i < n; i++) {
            if (!standardize[i]) {
                continue;
            }
            double c = 0;
            double mu = 0;
            double s = 0;
            for (int r = 0; r < b.rows; r++) {
                double x = b.dense[r * n + i];
                if (Double.isNaN(x)) {
                    continue;
                }
                c += 1;
                double delta = x - mu;
                mu += delta / c;
                s += delta * (x - mu);
            }
            out[3 * i] = c;
            out[3 * i + 1] = mu;
            out[3 * i + 2] = s;
        }
        return out;
    }

    public double mean(int i) {
        return mean[i];
    }

    /** Running (population) variance, 1 before any data. */
    public double variance(int i) {
        return count[i] > 0 ? m2[i] / count[i] : 1.0;
    }

    public double count(int i) {
        return count[i];
    }

    /**
     * Folds in the statistics of other values of feature {@code i}: their count, mean and sum of
     * squared deviations from their mean (Chan et al.'s pairwise combination).
     */
    public void merge(int i, double n, double mu, double sumSquares) {
        if (n <= 0) {
            return;
        }
        double total = count[i] + n;
        double delta = mu - mean[i];
        m2[i] += sumSquares + delta * delta * count[i] * n / total;
        mean[i] += delta * n / total;
        count[i] = total;
    }

    /** {@link #merge} for every feature: {@code stats} holds (count, mean, sum of squared deviations) per feature. */
    public void mergeAll(double[] stats) {
        for (int i = 0; i + 2 < stats.length; i += 3) {
            merge(i / 3, stats[i], stats[i + 1], stats[i + 2]);
        }
    }

    /** Restores statistics (from a snapshot or state). */
    public void set(int i, double cnt, double mu, double var) {
        count[i] = cnt;
        mean[i] = mu;
        m2[i] = var * cnt;
    }

    /** Writes the batch's dense values, standardized where declared, into the model input. */
    public void apply(Batch b, double[] x, int width, int offset) {
        int n = standardize.length;
        for (int r = 0; r < b.rows; r++) {
            for (int i = 0; i < n; i++) {
                double v = b.dense[r * n + i];
                if (standardize[i]) {
                    v = Double.isNaN(v) ? 0.0 : (v - mean[i]) / Math.sqrt(variance(i) + 1e-8);
                }
                x[r * width + offset + i] = v;
            }
        }
    }

    /** As {@link #apply(Batch, double[], int, int)} into a float32 input. */
    public void apply(Batch b, float[] x, int width, int offset) {
        int n = standardize.length;
        for (int r = 0; r < b.rows; r++) {
            for (int i = 0; i < n; i++) {
                double v = b.dense[r * n + i];
                if (standardize[i]) {
                    v = Double.isNaN(v) ? 0.0 : (v - mean[i]) / Math.sqrt(variance(i) + 1e-8);
                }
                x[r * width + offset + i] = (float) v;
            }
        }
    }
}
