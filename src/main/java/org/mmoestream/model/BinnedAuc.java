package org.mmoestream.model;

/**
 * AUC in constant memory for streams and sliding windows: predictions are counted per class in
 * {@code bins} equal-width bins of [0, 1]. Pairs in different bins are ordered exactly; pairs in
 * the same bin count one half, so the true AUC lies within {@link #errorBound()} of {@link
 * #auc()}: half the fraction of positive-negative pairs that share a bin.
 */
public final class BinnedAuc {
    private final long[] pos;
    private final long[] neg;
    private long positives;
    private long negatives;

    public BinnedAuc(int bins) {
        if (bins < 2) {
            throw new IllegalArgumentException("bins must be at least 2, got " + bins);
        }
        pos = new long[bins];
        neg = new long[bins];
    }

    private int bin(double p) {
        int b = (int) (p * pos.length);
        return Math.max(0, Math.min(pos.length - 1, b));
    }

    public void add(double p, boolean positive) {
        if (positive) {
            pos[bin(p)]++;
            positives++;
        } else {
            neg[bin(p)]++;
            negatives++;
        }
    }

    /** Removes a pair added before (for sliding windows). */
    public void remove(double p, boolean positive) {
        if (positive) {
            pos[bin(p)]--;
            positives--;
        } else {
            neg[bin(p)]--;
            negatives--;
        }
    }

    public long count() {
        return positives + negatives;
    }

    /** AUC with same-bin pairs as ties, NaN when one class is missing. */
    public double auc() {
        if (positives == 0 || negatives == 0) {
            return Double.NaN;
        }
        double wins = 0;
        long negBelow = 0;
        for (int b = 0; b < pos.length; b++) {
            wins += pos[b] * (negBelow + 0.5 * neg[b]);
            negBelow += neg[b];
        }
        return wins / ((double) positives * negatives);
    }

    /** The largest possible difference between {@link #auc()} and the exact AUC. */
    public double errorBound() {
        if (positives == 0 || negatives == 0) {
            return Double.NaN;
        }
        double tied = 0;
        for (int b = 0; b < pos.length; b++) {
            tied += (double) pos[b] * neg[b];
        }
        return 0.5 * tied / ((double) positives * negatives);
    }
}
