package org.mmoestream.model.optim;

import org.mmoestream.model.NdAccess;

/**
 * Applies one optimizer step to flat arrays: the dense parameters (in chunks) and the touched rows
 * of embedding tables (row-sparse: an untouched row and its state are never read or written).
 *
 * <p>Order of one step, for every parameter: {@code g' = scale * (g + l2 * w)} (l2 only on
 * weights and embedding rows), then the rule of the configured kind:
 *
 * <ul>
 *   <li>SGD: {@code w -= lr * g'}
 *   <li>Adagrad (Duchi et al. 2011): {@code a += g'^2; w -= lr * g' / (sqrt(a) + eps)}
 *   <li>Adam (Kingma and Ba 2015), lazy on sparse rows: {@code m = b1 m + (1-b1) g'; v = b2 v +
 *       (1-b2) g'^2; w -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)}, t = the model's step.
 * </ul>
 */
public final class Optimizer {

    private static final int CHUNK = 4096;

    private final OptimizerConfig config;
    private final double[] w = new double[CHUNK];
    private final double[] g = new double[CHUNK];
    private final double[] s0 = new double[CHUNK];
    private final double[] s1 = new double[CHUNK];
    private final float[] wf = new float[CHUNK];
    private final float[] gf = new float[CHUNK];
    private final float[] s0f = new float[CHUNK];
    private final float[] s1f = new float[CHUNK];
    private double corr1 = 1;
    private double corr2 = 1;

    public Optimizer(OptimizerConfig config) {
        this.config = config;
    }

    public OptimizerConfig config() {
        return config;
    }

    /** Starts step {@code t} (1-based); sets Adam's bias corrections. */
    public void begin(long t) {
        if (config.kind() == OptimizerConfig.Kind.ADAM) {
            corr1 = 1 - Math.pow(config.beta1(), t);
            corr2 = 1 - Math.pow(config.beta2(), t);
        }
    }

    /**
     * Updates {@code params[from, to)} from {@code grads} at the same positions, with state arrays of
     * the same length as {@code params}.
     */
    public void updateDense(
            NdAccess params, NdAccess grads, NdAccess[] state, int from, int to, double scale, double l2) {
        boolean f32 = params.float32() && grads.float32();
        for (NdAccess s : state) {
            f32 &= s.float32();
        }
        if (f32) {
            updateDenseF32(params, grads, state, from, to, scale, l2);
            return;
        }
        for (int off = from; off < to; off += CHUNK) {
            int n = Math.min(CHUNK, to - off);
            params.read(off, w, 0, n);
            grads.read(off, g, 0, n);
            readState(state, off, n);
            apply(n, scale, l2, config.learningRate());
            params.write(off, w, 0, n);
            writeState(state, off, n);
        }
    }

    /**
     * Updates the rows {@code rows[0..count)} of a float32 embedding table of width {@code dim} and
     * its state arrays (one per slot); the gradient of row {@code rows[i]} is {@code grads[i*dim ..
     * (i+1)*dim)}, at step size {@code lr} (the optimizer's, or the feature's own {@code
     * learning_rate}).
     */
    public void updateRows(
            float[] table, float[][] state, int[] rows, double[] grads, int count, int dim, double scale, double lr) {
        double l2 = config.l2();
        touch(table, state, rows, count, dim);
        // In place on the table: a row is 8 or so values, too few to pay for copies into chunks.
        switch (config.kind()) {
            case SGD -> {
                for (int i = 0; i < count; i++) {
                    int o = rows[i] * dim;
                    int go = i * dim;
                    for (int k = 0; k < dim; k++) {
                        double w = table[o + k];
                        table[o + k] = (float) (w - lr * scale * (grads[go + k] + l2 * w));
                    }
                }
            }
            case ADAGRAD -> {
                double eps = config.epsilon();
                float[] acc = state[0];
                for (int i = 0; i < count; i++) {
                    int o = rows[i] * dim;
                    int go = i * dim;
                    for (int k = 0; k < dim; k++) {
                        double w = table[o + k];
                        double gi = scale * (grads[go + k] + l2 * w);
                        double a = acc[o + k] + gi * gi;
                        acc[o + k] = (float) a;
                        table[o + k] = (float) (w - lr * gi / (Math.sqrt(a) + eps));
                    }
                }
            }
            case ADAM -> {
                double b1 = config.beta1();
                double b2 = config.beta2();
                double eps = config.epsilon();
                float[] m1 = state[0];
                float[] m2 = state[1];
                for (int i = 0; i < count; i++) {
                    int o = rows[i] * dim;
                    int go = i * dim;
                    for (int k = 0; k < dim; k++) {
                        double w = table[o + k];
                        double gi = scale * (grads[go + k] + l2 * w);
                        double m = b1 * m1[o + k] + (1 - b1) * gi;
                        double v = b2 * m2[o + k] + (1 - b2) * gi * gi;
                        m1[o + k] = (float) m;
                        m2[o + k] = (float) v;
                        table[o + k] = (float) (w - lr * (m / corr1) / (Math.sqrt(v / corr2) + eps));
                    }
                }
            }
            default -> throw new IllegalStateException();
        }
    }

    /** Keeps {@link #touch}'s reads alive (a sum nobody reads would be compiled away). */
    private float touched;

    /**
     * Reads the first and last value of each row (a row may straddle two cache lines) of the table
     * and of its state before the update. The rows are spread over tables of megabytes and most are
     * not in cache: these loads are independent, so the core has many misses in flight at once,
     * where in the update loop each row's misses wait behind the previous row's square root and
     * division. The reducer of {@code train.parallelism} (which has not read the rows in a forward
     * pass) spent most of its step waiting here.
     */
    private void touch(float[] table, float[][] state, int[] rows, int count, int dim) {
        float sum = 0;
        for (int i = 0; i < count; i++) {
            int o = rows[i] * dim;
            sum += table[o] + table[o + dim - 1];
            for (float[] s : state) {
                sum += s[o] + s[o + dim - 1];
            }
        }
        touched += sum;
    }

    /** As {@link #updateRows(float[], float[][], int[], double[], int, int, double, double)}, for float64 tables. */
    public void updateRows(
            double[] table, double[][] state, int[] rows, double[] grads, int count, int dim, double scale, double lr) {
        int perChunk = CHUNK / dim;
        for (int start = 0; start < count; start += perChunk) {
            int end = Math.min(count, start + perChunk);
            for (int i = start; i < end; i++) {
                int src = rows[i] * dim;
                int dst = (i - start) * dim;
                System.arraycopy(table, src, w, dst, dim);
                for (int s = 0; s < state.length; s++) {
                    System.arraycopy(state[s], src, s == 0 ? s0 : s1, dst, dim);
                }
            }
            System.arraycopy(grads, start * dim, g, 0, (end - start) * dim);
            apply((end - start) * dim, scale, config.l2(), lr);
            for (int i = start; i < end; i++) {
                int dst = rows[i] * dim;
                int src = (i - start) * dim;
                System.arraycopy(w, src, table, dst, dim);
                for (int s = 0; s < state.length; s++) {
                    System.arraycopy(s == 0 ? s0 : s1, src, state[s], dst, dim);
                }
            }
        }
    }

    /**
     * {@link #updateDense} on float32 storage: chunks copied without conversion, the same double
     * arithmetic per element as {@link #apply}, results rounded to float32 once.
     */
    private void updateDenseF32(
            NdAccess params, NdAccess grads, NdAccess[] state, int from, int to, double scale, double l2) {
        double lr = config.learningRate();
        for (int off = from; off < to; off += CHUNK) {
            int n = Math.min(CHUNK, to - off);
            params.readFloats(off, wf, 0, n);
            grads.readFloats(off, gf, 0, n);
            switch (config.kind()) {
                case SGD -> {
                    for (int i = 0; i < n; i++) {
                        double wi = wf[i];
                        wf[i] = (float) (wi - lr * scale * (gf[i] + l2 * wi));
                    }
                }
                case ADAGRAD -> {
                    // In float, as the parameters are: C2 vectorizes float square roots and divisions at
                    // twice the lanes of double ones (a sixth of a training step was this loop in double).
                    float lrf = (float) lr;
                    float epsf = (float) config.epsilon();
                    float sc = (float) scale;
                    float l2f = (float) l2;
                    state[0].readFloats(off, s0f, 0, n);
                    for (int i = 0; i < n; i++) {
                        float wi = wf[i];
                        float gi = sc * (gf[i] + l2f * wi);
                        float a = s0f[i] + gi * gi;
                        s0f[i] = a;
                        wf[i] = wi - lrf * gi / ((float) Math.sqrt(a) + epsf);
                    }
                    state[0].writeFloats(off, s0f, 0, n);
                }
                case ADAM -> {
                    double b1 = config.beta1();
                    double b2 = config.beta2();
                    double eps = config.epsilon();
                    state[0].readFloats(off, s0f, 0, n);
                    state[1].readFloats(off, s1f, 0, n);
                    for (int i = 0; i < n; i++) {
                        double wi = wf[i];
                        double gi = scale * (gf[i] + l2 * wi);
                        double m = b1 * s0f[i] + (1 - b1) * gi;
                        double v = b2 * s1f[i] + (1 - b2) * gi * gi;
                        s0f[i] = (float) m;
                        s1f[i] = (float) v;
                        wf[i] = (float) (wi - lr * (m / corr1) / (Math.sqrt(v / corr2) + eps));
                    }
                    state[0].writeFloats(off, s0f, 0, n);
                    state[1].writeFloats(off, s1f, 0, n);
                }
                default -> throw new IllegalStateException();
            }
            params.writeFloats(off, wf, 0, n);
        }
    }

    private void readState(NdAccess[] state, int off, int n) {
        if (state.length > 0) {
            state[0].read(off, s0, 0, n);
        }
        if (state.length > 1) {
            state[1].read(off, s1, 0, n);
        }
    }

    private void writeState(NdAccess[] state, int off, int n) {
        if (state.length > 0) {
            state[0].write(off, s0, 0, n);
        }
        if (state.length > 1) {
            state[1].write(off, s1, 0, n);
        }
    }

    private void apply(int n, double scale, double l2, double lr) {
        switch (config.kind()) {
            case SGD -> {
                for (int i = 0; i < n; i++) {
                    w[i] -= lr * scale * (g[i] + l2 * w[i]);
                }
            }
            case ADAGRAD -> {
                double eps = config.epsilon();
                for (int i = 0; i < n; i++) {
                    double gi = scale * (g[i] + l2 * w[i]);
                    s0[i] += gi * gi;
                    w[i] -= lr * gi / (Math.sqrt(s0[i]) + eps);
                }
            }
            case ADAM -> {
                double b1 = config.beta1();
                double b2 = config.beta2();
                double eps = config.epsilon();
                for (int i = 0; i < n; i++) {
                    double gi = scale * (g[i] + l2 * w[i]);
                    s0[i] = b1 * s0[i] + (1 - b1) * gi;
                    s1[i] = b2 * s1[i] + (1 - b2) * gi * gi;
                    w[i] -= lr * (s0[i] / corr1) / (Math.sqrt(s1[i] / corr2) + eps);
                }
            }
            default -> throw new IllegalStateException();
        }
    }
}
