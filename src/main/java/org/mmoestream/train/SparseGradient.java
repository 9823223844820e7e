package org.mmoestream.train;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * A replica's dense gradient cut to its largest entries, with error feedback (pure): each share
 * sends the entries of {@code residual + examples x gradient} whose magnitude is among the largest
 * {@code density} of them, and keeps the rest in the residual, to be added to the next share's. No
 * part of a gradient is dropped, only sent later: what has been sent plus the residual is the sum
 * of every share's gradient. Top-k sparsification with error feedback as in Deep Gradient
 * Compression (Lin et al., ICLR 2018) and "Sparsified SGD with memory" (Stich et al., NeurIPS 2018).
 *
 * <p>The residual is in sum units (a share's mean gradient times its examples), and the values sent
 * are divided by the share's examples; the reducer weighs them by the share's examples and divides
 * the sum by the larger of the round's examples and the batch size ({@link RoundStep}). The
 * threshold is the {@code 1 - density} quantile of the magnitudes of a sample of the entries
 * ({@link #SAMPLE}, evenly spaced from a random start), so a share costs two passes over the
 * gradient and a sort of the sample, not a sort of the gradient; the entries sent are about {@code
 * density} of all, not exactly.
 */
final class SparseGradient {
    /** Entries whose magnitudes set the threshold. */
    static final int SAMPLE = 2048;

    private final double density;
    private final SplittableRandom random;
    private float[] residual = new float[0];
    private final float[] sample = new float[SAMPLE];
    private int[] ids = new int[0];
    private float[] values = new float[0];
    private int sent;

    /** @param density the share of the entries to send, in (0, 1) */
    SparseGradient(double density, long seed) {
        if (!(density > 0 && density < 1)) {
            throw new IllegalArgumentException("density " + density + " is not in (0, 1)");
        }
        this.density = density;
        this.random = new SplittableRandom(seed);
    }

    /**
     * Adds {@code examples x gradient[0..n)} to the residual and takes the largest entries out of it:
     * afterwards {@link #ids()} and {@link #values()} (divided by {@code examples}) hold them.
     */
    void compress(float[] gradient, int n, int examples) {
        if (residual.length != n) {
            residual = new float[n];
        }
        float[] r = residual;
        float scale = examples;
        for (int i = 0; i < n; i++) {
            r[i] += scale * gradient[i];
        }
        // Every (n / SAMPLE)-th entry from a random start: a sample that reads memory in order.
        double stride = (double) n / SAMPLE;
        double at = random.nextDouble() * stride;
        for (int i = 0; i < SAMPLE; i++, at += stride) {
            sample[i] = Math.abs(r[Math.min(n - 1, (int) at)]);
        }
        Arrays.sort(sample);
        float threshold = sample[(int) Math.min(SAMPLE - 1, (long) Math.floor(SAMPLE * (1 - density)))];
        if (threshold == 0) {
            // More than 1 - density of the entries are 0: send the non-zero ones.
            threshold = Float.MIN_VALUE;
        }
        int expect = (int) Math.min(n, 2L * Math.ceil(n * density) + 16);
        if (ids.length < expect) {
            ids = new int[expect];
            values = new float[expect];
        }
        int k = 0;
        float inv = 1f / examples;
        for (int i = 0; i < n; i++) {
            float v = r[i];
            if (Math.abs(v) >= threshold) {
                if (k == ids.length) {
                    ids = Arrays.copyOf(ids, Math.min(n, 2 * k));
                    values = Arrays.copyOf(values, ids.length);
                }
                ids[k] = i;
                values[k++] = v * inv;
                r[i] = 0f;
            }
        }
        sent = k;
    }

    /** The ids of the entries the last {@link #compress} took, ascending. */
    int[] ids() {
        return Arrays.copyOf(ids, sent);
    }

    /** Their values: the residual's entries divided by the share's examples. */
    float[] values() {
        return Arrays.copyOf(values, sent);
    }

    /** The residual's value at {@code i} (sum units). */
    float residual(int i) {
        return i < residual.length ? residual[i] : 0f;
    }

    /** Whether anything is held back. */
    boolean holds() {
        for (float v : residual) {
            if (v != 0f) {
                return true;
            }
        }
        return false;
    }

    /** What is held back (sum units), every entry; the residual is empty afterwards. */
    float[] drain() {
        float[] out = residual.clone();
        Arrays.fill(residual, 0f);
        return out;
    }
}
