package org.mmoestream.model;

import java.util.Locale;

/**
 * Progressive metrics of one head over the last {@code window} scored rows: AUC (binned, 10,000
 * bins, with its error bound), log-loss, calibration; for a regression head, RMSE, MAE and
 * calibration (mean prediction / mean label). Each row is scored before it is trained on, so these
 * are honest out-of-sample figures of a model that keeps learning.
 */
public final class SlidingMetrics {
    private static final double EPS = 1e-7;
    private final double[] p;
    private final boolean[] y;
    private final double[] value;
    private final boolean regression;
    private double squaredErrorSum;
    private double absoluteErrorSum;
    private double labelSum;
    private final BinnedAuc auc = new BinnedAuc(10_000);
    private int next;
    private int size;
    private double logLossSum;
    private double predictionSum;
    private long positives;
    private long total;

    public SlidingMetrics(int window) {
        this(window, false);
    }

    public SlidingMetrics(int window, boolean regression) {
        this.regression = regression;
        p = new double[window];
        y = new boolean[regression ? 0 : window];
        value = new double[regression ? window : 0];
    }

    /** Adds a prediction with its label: 0/1 for a binary head (above 0.5: positive), the value for a regression. */
    public void add(double prediction, double label) {
        if (!regression) {
            add(prediction, label > 0.5);
            return;
        }
        if (size == p.length) {
            double e = p[next] - value[next];
            squaredErrorSum -= e * e;
            absoluteErrorSum -= Math.abs(e);
            predictionSum -= p[next];
            labelSum -= value[next];
        } else {
            size++;
        }
        p[next] = prediction;
        value[next] = label;
        double e = prediction - label;
        squaredErrorSum += e * e;
        absoluteErrorSum += Math.abs(e);
        predictionSum += prediction;
        labelSum += label;
        next = (next + 1) % p.length;
        total++;
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
        if (regression) {
            return size == 0 || labelSum == 0 ? Double.NaN : predictionSum / labelSum;
        }
        return positives == 0 ? Double.NaN : (predictionSum / size) / ((double) positives / size);
    }

    /** RMSE of a regression head over the window (NaN for a binary head). */
    public double rmse() {
        return regression && size > 0 ? Math.sqrt(Math.max(0, squaredErrorSum) / size) : Double.NaN;
    }

    /** MAE of a regression head over the window (NaN for a binary head). */
    public double mae() {
        return regression && size > 0 ? Math.max(0, absoluteErrorSum) / size : Double.NaN;
    }

    /** Rows in the window. */
    public int size() {
        return size;
    }

    /** Rows ever added. */
    public long total() {
        return total;
    }

    /**
     * {@code {"auc":..,"auc_error_bound":..,"logloss":..,"calibration":..,"n":..}}; for a regression
     * head {@code {"rmse":..,"mae":..,"calibration":..,"n":..}}.
     */
    public String json() {
        if (regression) {
            return String.format(
                    Locale.ROOT,
                    "{\"rmse\":%s,\"mae\":%s,\"calibration\":%s,\"n\":%d}",
                    num(rmse()),
                    num(mae()),
                    num(calibration()),
                    size);
        }
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
