package org.mmoestream.model;

import java.util.Locale;

/**
 * Progressive metrics of one head over the last {@code window} scored rows: AUC (binned, 10,000
 * bins, with its error bound), log-loss, calibration. Each row is scored before it is trained on,
 * so these are honest out-of-sample figures of a model that keeps learning.
 */
public final class SlidingMetrics {
    private static final double EPS = 1e-7;
    private final double[] p;
    private final boolean[] y;
    private final BinnedAuc auc = new BinnedAuc(10_000);
    private int next;
    private int size;
    private double logLossSum;
    private double predictionSum;
    private long positives;
    private long total;

    public SlidingMetrics(int window) {
        p = new double[window];
        y = new boolean[window];
    }

    public void add(double prediction, boolean positive) {
        if (size == p.length) {
            remove(next);
        } else {
            size++;
        }
        p[next] = prediction;
        y[next] = positive;
        auc.add(prediction, positive);
        logLossSum += loss(prediction, positive);
        predictionSum += prediction;
        positives += positive ? 1 : 0;
        next = (next + 1) % p.length;
        total++;
    }

    private void remove(int i) {
        auc.remove(p[i], y[i]);
        logLossSum -= loss(p[i], y[i]);
        predictionSum -= p[i];
        positives -= y[i] ? 1 : 0;
    }

    private static double loss(double prediction, boolean positive) {
        double q = Math.min(Math.max(prediction, EPS), 1 - EPS);
        return positive ? -Math.log(q) : -Math.log(1 - q);
    }

    public double auc() {
        return auc.auc();
    }

    public double aucErrorBound() {
        return auc.errorBound();
    }

    public double logLoss() {
        return size == 0 ? Double.NaN : logLossSum / size;
    }

    public double calibration() {
        return positives == 0 ? Double.NaN : (predictionSum / size) / ((double) positives / size);
    }

    /** Rows in the window. */
    public int size() {
        return size;
    }

    /** Rows ever added. */
    public long total() {
        return total;
    }

    /** {@code {"auc":..,"auc_error_bound":..,"logloss":..,"calibration":..,"n":..}}. */
    public String json() {
        return String.format(
                Locale.ROOT,
                "{\"auc\":%s,\"auc_error_bound\":%s,\"logloss\":%s,\"calibration\":%s,\"n\":%d}",
                num(auc()),
                num(aucErrorBound()),
                num(logLoss()),
                num(calibration()),
                size);
    }

    private static String num(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.6f", v) : "null";
    }
}
