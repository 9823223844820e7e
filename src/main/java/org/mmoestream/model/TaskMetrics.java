package org.mmoestream.model;

import java.util.Arrays;

/**
 * Accumulates (prediction, label) pairs of one head and reports exact AUC (Mann-Whitney, ties
 * counted as one half), log-loss, and calibration (mean prediction / positive rate).
 */
public final class TaskMetrics {
    private static final double EPS = 1e-7;
    private double[] scores = new double[1024];
    private boolean[] labels = new boolean[1024];
    private int n;
    private int positives;
    private double logLossSum;
    private double predictionSum;

    /** Adds one prediction {@code p} in (0, 1) with its 0/1 label. */
    public void add(double p, boolean positive) {
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
        return (rankSum - positives * (positives + 1) / 2.0) / ((double) positives * neg);
    }

    /** Mean binary cross-entropy, predictions clamped to [1e-7, 1 - 1e-7]. */
    public double logLoss() {
        return n == 0 ? Double.NaN : logLossSum / n;
    }

    /** Mean prediction divided by the positive rate (1 is calibrated), NaN without positives. */
    public double calibration() {
        return positives == 0 ? Double.NaN : (predictionSum / n) / ((double) positives / n);
    }

    public double meanPrediction() {
        return n == 0 ? Double.NaN : predictionSum / n;
    }
}
