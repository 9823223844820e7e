package org.mmoestream.model;

import java.util.Arrays;

/**
 * Accumulates (prediction, label) pairs of one head and reports exact AUC (Mann-Whitney, ties
 * counted as one half), log-loss, and calibration (mean prediction / positive rate); for a
 * regression head, RMSE, MAE and calibration (mean prediction / mean label).
 */
public final class TaskMetrics {
    private final boolean regression;
    private double squaredErrorSum;
    private double absoluteErrorSum;
    private double labelSum;

    /** Metrics of a binary head. */
    public TaskMetrics() {
        this(false);
    }

    public TaskMetrics(boolean regression) {
        this.regression = regression;
    }

    public boolean regression() {
        return regression;
    }

    /** Adds a prediction with its label: 0/1 for a binary head (above 0.5: positive), the value for a regression. */
    public void add(double p, double label) {
        if (!regression) {
            add(p, label > 0.5);
            return;
        }
        n++;
        predictionSum += p;
        labelSum += label;
        squaredErrorSum += (p - label) * (p - label);
        absoluteErrorSum += Math.abs(p - label);
    }

    /** Root mean squared error of a regression head (NaN for a binary one or without rows). */
    public double rmse() {
        return regression && n > 0 ? Math.sqrt(squaredErrorSum / n) : Double.NaN;
    }

    /** Mean absolute error of a regression head (NaN for a binary one or without rows). */
    public double mae() {
        return regression && n > 0 ? absoluteErrorSum / n : Double.NaN;
    }

    private static final double EPS = 1e-7;
    private double[] scores = new double[1024];
    private boolean[] labels = new boolean[1024];
    private int n;
    private int positives;
    private double logLossSum;
    private double predictionSum;

    /** Adds one prediction {@code p} in (0, 1) with its 0/1 label (a binary head). */
    public void add(double p, boolean positive) {
        if (regression) {
            throw new IllegalStateException("a regression head takes labels as values");
        }
        if (n == scores.length) {
            scores = Arrays.copyOf(scores, n * 2);
            labels = Arrays.copyOf(labels, n * 2);
        }
        scores[n] = p;
        labels[n] = positive;
        n++;
        double q = Math.min(Math.max(p, EPS), 1 - EPS);
        logLossSum -= positive ? Math.log(q) : Math.log(1 - q);
        predictionSum += p;
        if (positive) {
            positives++;
        }
    }

    public int count() {
        return n;
    }

    public int positives() {
        return positives;
    }

    /** Exact AUC, or NaN when only one class has been seen. */
    public double auc() {
        int neg = n - positives;
        if (positives == 0 || neg == 0) {
            return Double.NaN;
        }
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Double.compare(scores[a], scores[b]));
        double rankSum = 0;
        int i = 0;
        while (i < n) {
            int j = i;
            while (j + 1 < n && scores[order[j + 1]] == scores[order[i]]) {
                j++;
            }
            double avgRank = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++) {
                if (labels[order[k]]) {
                    rankSum += avgRank;
                }
            }
            i = j + 1;
        }
        // In double: positives * (positives + 1) overflows an int above 46,340 positives.
        return (rankSum - (double) positives * (positives + 1) / 2.0) / ((double) positives * neg);
    }

    /** Mean binary cross-entropy, predictions clamped to [1e-7, 1 - 1e-7] (NaN for a regression head). */
    public double logLoss() {
        return n == 0 || regression ? Double.NaN : logLossSum / n;
    }

    /**
     * Mean prediction divided by the positive rate (1 is calibrated), NaN without positives; for a
     * regression head, the mean prediction divided by the mean label.
     */
    public double calibration() {
        if (regression) {
            return n == 0 || labelSum == 0 ? Double.NaN : predictionSum / labelSum;
        }
        return positives == 0 ? Double.NaN : (predictionSum / n) / ((double) positives / n);
    }

    public double meanPrediction() {
        return n == 0 ? Double.NaN : predictionSum / n;
    }
}
