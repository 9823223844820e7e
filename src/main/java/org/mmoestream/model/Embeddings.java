package org.mmoestream.model;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.model.optim.Optimizer;
import org.mmoestream.model.optim.OptimizerConfig;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * One embedding table per sparse feature ([buckets, dim]) with its optimizer state, the gather of a
 * batch's rows into the model input (mean-pooled for multi-valued features), and the row-sparse
 * gradient: each touched row once, with the contributions of every use in the batch summed.
 *
 * <p>Tables live on the Java heap (float32, or float64 for gradient checks), not in ND4J's native
 * memory: they are only ever read and written a row at a time, never multiplied, and a row of a
 * heap array is a plain load, where a native buffer costs a bounds and scope check per element.
 */
public final class Embeddings {
    private final List<SparseFeature> features;
    private final int[] inputOffset;
    private final int[] dims;
    private final int slots;
    /** Tables and state, float32 ({@code f}) or float64 ({@code d}); state indexed [feature][slot]. */
    private final float[][] f;

    private final double[][] d;
    private final float[][][] fs;
    private final double[][][] ds;
    private final NdAccess[] access;
    private final RowGradients[] grads;

    public Embeddings(org.mmoestream.feature.FeatureSpec spec, DataType type, OptimizerConfig opt) {
        this(
                spec,
                type,
                opt,
                spec.sparse().stream().mapToInt(SparseFeature::buckets).toArray());
    }

    /**
     * Tables of {@code rows[f]} rows instead of the features' bucket counts: a compact working set
     * whose slots the caller maps to bucket ids (the streaming trainer keeps rows in Flink state).
     */
    public Embeddings(org.mmoestream.feature.FeatureSpec spec, DataType type, OptimizerConfig opt, int[] rows) {
        List<SparseFeature> features = spec.sparse();
        if (type != DataType.FLOAT && type != DataType.DOUBLE) {
            throw new IllegalArgumentException("unsupported data type " + type);
        }
        this.features = List.copyOf(features);
        this.slots = opt.stateSlots();
        int n = features.size();
        inputOffset = new int[n];
        dims = new int[n];
        boolean single = type == DataType.FLOAT;
        f = single ? new float[n][] : null;
        d = single ? null : new double[n][];
        fs = single ? new float[n][slots][] : null;
        ds = single ? null : new double[n][slots][];
        access = new NdAccess[n];
        grads = new RowGradients[n];
        for (int i = 0; i < n; i++) {
            SparseFeature sf = features.get(i);
            // The column of the feature's embedding in a gathered row (a bias feature's after the model input).
            inputOffset[i] = spec.sparseOffset(i);
            dims[i] = sf.dim();
            int size = rows[i] * sf.dim();
            if (single) {
                f[i] = new float[size];
                access[i] = NdAccess.of(f[i]);
                for (int s = 0; s < slots; s++) {
                    fs[i][s] = new float[size];
                    Arrays.fill(fs[i][s], (float) opt.initialState(s));
                }
            } else {
                d[i] = new double[size];
                access[i] = NdAccess.of(d[i]);
                for (int s = 0; s < slots; s++) {
                    ds[i][s] = new double[size];
                    Arrays.fill(ds[i][s], opt.initialState(s));
                }
            }
            grads[i] = new RowGradients(sf.dim());
        }
    }

    /**
     * A view of {@code src}'s tables (the same arrays, also after {@code src} resizes one) with
     * row gradients of its own and no optimizer state: a thread that computes a part of a step's
     * gradient gathers from it and never writes a table.
     */
    Embeddings(Embeddings src) {
        this.features = src.features;
        this.inputOffset = src.inputOffset;
        this.dims = src.dims;
        this.slots = 0;
        this.f = src.f;
        this.d = src.d;
        this.fs = null;
        this.ds = null;
        this.access = src.access;
        this.grads = new RowGradients[dims.length];
        for (int i = 0; i < dims.length; i++) {
            grads[i] = new RowGradients(dims[i]);
        }
    }

    /** Sets every row to its initial value, {@link #initialRow}. */
    public void initialize(long seed) {
        for (int t = 0; t < count(); t++) {
            int dim = dims[t];
            double[] row = new double[dim];
            int rows = access[t].length() / dim;
            for (int r = 0; r < rows; r++) {
                initialRow(seed, t, r, row);
                access[t].write(r * dim, row, 0, dim);
            }
        }
    }

    /**
     * The initial value of row {@code row} of table {@code f}: N(0, 0.01^2) entries drawn from a
     * generator seeded by (seed, f, row) alone, so a row first touched late in a stream, in another
     * process, starts where offline training starts it.
     */
    public static void initialRow(long seed, int f, int row, double[] dst) {
        SplittableRandom rnd = new SplittableRandom(seed ^ ((((long) f << 40) + row + 1) * 0x9E3779B97F4A7C15L));
        for (int k = 0; k < dst.length; k++) {
            dst[k] = 0.01 * rnd.nextGaussian();
        }
    }

    /** Optimizer state slots kept per row entry. */
    public int stateSlots() {
        return slots;
    }

    /** Copies row {@code r} of table {@code t} and its optimizer state ({@code dim * (1 + slots)}). */
    public void readRow(int t, int r, double[] dst) {
        int dim = dims[t];
        int o = r * dim;
        for (int k = 0; k < dim; k++) {
            dst[k] = f != null ? f[t][o + k] : d[t][o + k];
        }
        for (int s = 0; s < slots; s++) {
            for (int k = 0; k < dim; k++) {
                dst[(s + 1) * dim + k] = f != null ? fs[t][s][o + k] : ds[t][s][o + k];
            }
        }
    }

    /** Writes what {@link #readRow} read. */
    public void writeRow(int t, int r, double[] src) {
        int dim = dims[t];
        int o = r * dim;
        for (int k = 0; k < dim; k++) {
            if (f != null) {
                f[t][o + k] = (float) src[k];
            } else {
                d[t][o + k] = src[k];
            }
        }
        for (int s = 0; s < slots; s++) {
            for (int k = 0; k < dim; k++) {
                if (f != null) {
                    fs[t][s][o + k] = (float) src[(s + 1) * dim + k];
                } else {
                    ds[t][s][o + k] = src[(s + 1) * dim + k];
                }
            }
        }
    }

    /**
     * Copies row {@code r} of float32 table {@code t} and its optimizer state into {@code dst}
     * ({@code dim * (1 + slots)}: the value, then each state slot).
     */
    public void readRow(int t, int r, float[] dst) {
        int dim = dims[t];
        System.arraycopy(f[t], r * dim, dst, 0, dim);
        for (int s = 0; s < slots; s++) {
            System.arraycopy(fs[t][s], r * dim, dst, (s + 1) * dim, dim);
        }
    }

    /**
     * Copies the values (no optimizer state) of rows {@code rows[0..n)} of float32 table {@code t}
     * into {@code dst}, one row after the other. Rows are copied between arrays and the caller moves
     * them to or from a buffer in one bulk copy: a buffer's bulk copy per row of 8 values costs more
     * than the values.
     */
    public void readValues(int t, int[] rows, int n, float[] dst) {
        int dim = dims[t];
        float[] table = f[t];
        for (int i = 0; i < n; i++) {
            System.arraycopy(table, rows[i] * dim, dst, i * dim, dim);
        }
    }

    /** Sets the values of rows {@code rows[0..n)} of float32 table {@code t} from {@code src}, row after row. */
    public void writeValues(int t, int[] rows, int n, float[] src) {
        int dim = dims[t];
        float[] table = f[t];
        for (int i = 0; i < n; i++) {
            System.arraycopy(src, i * dim, table, rows[i] * dim, dim);
        }
    }

    /** Appends the values of every row of float32 table {@code t}, in row order, to {@code dst}. */
    public void readAll(int t, java.nio.FloatBuffer dst) {
        dst.put(f[t]);
    }

    /** Sets the values of every row of float32 table {@code t}, in row order, from the next values of {@code src}. */
    public void writeAll(int t, java.nio.FloatBuffer src) {
        src.get(f[t]);
    }

    /** Writes what {@link #readRow(int, int, float[])} read. */
    public void writeRow(int t, int r, float[] src) {
        int dim = dims[t];
        System.arraycopy(src, 0, f[t], r * dim, dim);
        for (int s = 0; s < slots; s++) {
            System.arraycopy(src, (s + 1) * dim, fs[t][s], r * dim, dim);
        }
    }

    /**
     * Sets rows [0, rows) of float32 table {@code t} to {@link #initialRow}{@code (seed, t, r)}, state to its
     * initial value.
     */
    public void initializeTable(int t, long seed, double[] initialState) {
        int dim = dims[t];
        int rows = f[t].length / dim;
        double[] row = new double[dim];
        for (int r = 0; r < rows; r++) {
            initialRow(seed, t, r, row);
            for (int k = 0; k < dim; k++) {
                f[t][r * dim + k] = (float) row[k];
            }
        }
        for (int s = 0; s < slots; s++) {
            java.util.Arrays.fill(fs[t][s], (float) initialState[s]);
        }
    }

    /** Rows of table {@code t}. */
    public int rows(int t) {
        return access[t].length() / dims[t];
    }

    /** Gives float32 table {@code t} {@code rows} rows, keeping the first ones (a working set that grows). */
    public void resize(int t, int rows) {
        int size = rows * dims[t];
        f[t] = Arrays.copyOf(f[t], size);
        for (int s = 0; s < slots; s++) {
            fs[t][s] = Arrays.copyOf(fs[t][s], size);
        }
        access[t] = NdAccess.of(f[t]);
    }

    public int count() {
        return dims.length;
    }

    public SparseFeature feature(int t) {
        return features.get(t);
    }

    /** Element access to table {@code t}, [rows, dim] row-major. */
    public NdAccess tableAccess(int t) {
        return access[t];
    }

    /** Sets every table (not the optimizer state) to the values of {@code src}, of the same shape. */
    public void copyTablesFrom(Embeddings src) {
        for (int t = 0; t < count(); t++) {
            if (f != null && src.f != null) {
                System.arraycopy(src.f[t], 0, f[t], 0, f[t].length);
            } else {
                double[] tmp = new double[src.access[t].length()];
                src.access[t].read(0, tmp, 0, tmp.length);
                access[t].write(0, tmp, 0, tmp.length);
            }
        }
    }

    /** A copy of the tables (not the optimizer state), for {@link #restoreTables}. */
    public Object copyTables() {
        return f != null
                ? Arrays.stream(f).map(float[]::clone).toArray(float[][]::new)
                : Arrays.stream(d).map(double[]::clone).toArray(double[][]::new);
    }

    /** Restores what {@link #copyTables} returned. */
    public void restoreTables(Object copy) {
        for (int t = 0; t < count(); t++) {
            if (f != null) {
                System.arraycopy(((float[][]) copy)[t], 0, f[t], 0, f[t].length);
            } else {
                System.arraycopy(((double[][]) copy)[t], 0, d[t], 0, d[t].length);
            }
        }
    }

    /** Writes each row's (mean-pooled) embeddings into the model input {@code x} [rows, width]. */
    public void gather(Batch b, double[] x, int width) {
        for (int t = 0; t < count(); t++) {
            int dim = dims[t];
            int[] ids = b.ids[t];
            int[] off = b.offsets[t];
            float[] tf = f != null ? f[t] : null;
            double[] td = d != null ? d[t] : null;
            for (int r = 0; r < b.rows; r++) {
                int o = r * width + inputOffset[t];
                int from = off[r];
                int to = off[r + 1];
                for (int i = from; i < to; i++) {
                    int src = ids[i] * dim;
                    if (i == from) {
                        for (int k = 0; k < dim; k++) {
                            x[o + k] = tf != null ? tf[src + k] : td[src + k];
                        }
                    } else {
                        for (int k = 0; k < dim; k++) {
                            x[o + k] += tf != null ? tf[src + k] : td[src + k];
                        }
                    }
                }
                if (to - from > 1) {
                    double inv = 1.0 / (to - from);
                    for (int k = 0; k < dim; k++) {
                        x[o + k] *= inv;
                    }
                }
            }
        }
    }

    /** As {@link #gather(Batch, double[], int)} into a float32 input, for float32 tables. */
    public void gather(Batch b, float[] x, int width) {
        for (int t = 0; t < count(); t++) {
            int dim = dims[t];
            int[] ids = b.ids[t];
            int[] off = b.offsets[t];
            float[] tf = f[t];
            for (int r = 0; r < b.rows; r++) {
                int o = r * width + inputOffset[t];
                int from = off[r];
                int to = off[r + 1];
                if (to - from == 1) {
                    System.arraycopy(tf, ids[from] * dim, x, o, dim);
                    continue;
                }
                java.util.Arrays.fill(x, o, o + dim, 0f);
                for (int i = from; i < to; i++) {
                    int src = ids[i] * dim;
                    for (int k = 0; k < dim; k++) {
                        x[o + k] += tf[src + k];
                    }
                }
                float inv = 1f / (to - from);
                for (int k = 0; k < dim; k++) {
                    x[o + k] *= inv;
                }
            }
        }
    }

    /**
     * Touched rows of one table and their summed gradients, in the order of their first use; arrays
     * grow and are reused. Uses are matched to rows with an open-addressing table whose slots carry
     * the step's stamp, so nothing is cleared between steps.
     */
    public static final class RowGradients {
        final int dim;
        int count;
        int[] rows = new int[64];
        double[] values;
        private int[] keys = new int[128];
        private int[] slotOf = new int[128];
        private int[] stamp = new int[128];
        private int generation;

        RowGradients(int dim) {
            this.dim = dim;
            this.values = new double[64 * dim];
        }

        public int count() {
            return count;
        }

        public int row(int i) {
            return rows[i];
        }

        /** Gradient entry {@code k} of touched row {@code i}. */
        public double value(int i, int k) {
            return values[i * dim + k];
        }

        /** Adds {@code weight} x {@code src[off..off+dim)} to the gradient of row {@code id}. */
        public void add(int id, float[] src, int off, double weight) {
            int base = slot(id) * dim;
            for (int k = 0; k < dim; k++) {
                values[base + k] += weight * src[off + k];
            }
        }

        /** Adds every row gradient of {@code o} (of the same table) to this one's, rows in {@code o}'s order. */
        public void addAll(RowGradients o) {
            for (int i = 0; i < o.count; i++) {
                int base = slot(o.rows[i]) * dim;
                int src = i * dim;
                for (int k = 0; k < dim; k++) {
                    values[base + k] += o.values[src + k];
                }
            }
        }

        /** Starts a step of at most {@code uses} uses. */
        void begin(int uses) {
            if (rows.length < uses) {
                rows = new int[uses];
                values = new double[uses * dim];
            }
            int capacity = Integer.highestOneBit(Math.max(16, uses * 2 - 1)) << 1;
            if (keys.length < capacity) {
                keys = new int[capacity];
                slotOf = new int[capacity];
                stamp = new int[capacity];
                generation = 0;
            }
            if (++generation == 0) {
                Arrays.fill(stamp, 0);
                generation = 1;
            }
            count = 0;
        }

        /** The slot of row {@code id}, added (with a zero gradient) on its first use. */
        int slot(int id) {
            int mask = keys.length - 1;
            int h = (id * 0x9E3779B9) >>> 7 & mask;
            while (stamp[h] == generation) {
                if (keys[h] == id) {
                    return slotOf[h];
                }
                h = (h + 1) & mask;
            }
            stamp[h] = generation;
            keys[h] = id;
            int s = count++;
            slotOf[h] = s;
            rows[s] = id;
            Arrays.fill(values, s * dim, (s + 1) * dim, 0.0);
            return s;
        }
    }

    /**
     * Turns dLoss/dInput [rows, width] into per-table row gradients: a use of id j in a row with n
     * values contributes dx/n to row j; the uses of an id are summed in the order of the batch, so
     * the result does not depend on hashing.
     */
    public RowGradients[] gradients(Batch b, double[] dx, int width) {
        for (int t = 0; t < count(); t++) {
            RowGradients g = grads[t];
            int dim = g.dim;
            int[] ids = b.ids[t];
            int[] off = b.offsets[t];
            g.begin(off[b.rows]);
            for (int r = 0; r < b.rows; r++) {
                int from = off[r];
                int to = off[r + 1];
                double w = 1.0 / (to - from);
                int o = r * width + inputOffset[t];
                for (int i = from; i < to; i++) {
                    int base = g.slot(ids[i]) * dim;
                    for (int k = 0; k < dim; k++) {
                        g.values[base + k] += w * dx[o + k];
                    }
                }
            }
        }
        return grads;
    }

    /** As {@link #gradients(Batch, double[], int)} from a float32 dLoss/dInput. */
    public RowGradients[] gradients(Batch b, float[] dx, int width) {
        for (int t = 0; t < count(); t++) {
            RowGradients g = grads[t];
            int dim = g.dim;
            int[] ids = b.ids[t];
            int[] off = b.offsets[t];
            g.begin(off[b.rows]);
            for (int r = 0; r < b.rows; r++) {
                int from = off[r];
                int to = off[r + 1];
                double w = 1.0 / (to - from);
                int o = r * width + inputOffset[t];
                for (int i = from; i < to; i++) {
                    int base = g.slot(ids[i]) * dim;
                    for (int k = 0; k < dim; k++) {
                        g.values[base + k] += w * dx[o + k];
                    }
                }
            }
        }
        return grads;
    }

    /** The tables' row gradients, emptied for at most {@code uses[t]} rows of table {@code t}. */
    public RowGradients[] emptyGradients(int[] uses) {
        for (int t = 0; t < count(); t++) {
            grads[t].begin(uses[t]);
        }
        return grads;
    }

    /** Sum of squares of the row gradients plus the L2 term, for global-norm clipping. */
    public double squaredNorm(RowGradients[] g, double l2) {
        double s = 0;
        for (int t = 0; t < g.length; t++) {
            s += squaredNorm(g, l2, t);
        }
        return s;
    }

    /** As {@link #squaredNorm(RowGradients[], double)} for table {@code t} alone. */
    double squaredNorm(RowGradients[] g, double l2, int t) {
        double s = 0;
        int dim = g[t].dim;
        for (int i = 0; i < g[t].count; i++) {
            int base = g[t].rows[i] * dim;
            for (int k = 0; k < dim; k++) {
                double w = l2 == 0 ? 0 : (f != null ? f[t][base + k] : d[t][base + k]);
                double v = g[t].values[i * dim + k] + l2 * w;
                s += v * v;
            }
        }
        return s;
    }

    /** The row gradients of table {@code t} that {@link #emptyGradients} hands out. */
    RowGradients gradients(int t) {
        return grads[t];
    }

    /** Applies the optimizer to the touched rows of every table. */
    public void update(Optimizer opt, RowGradients[] g, double scale) {
        for (int t = 0; t < g.length; t++) {
            update(opt, g, scale, t);
        }
    }

    /** Applies the optimizer to the touched rows of table {@code t}. */
    void update(Optimizer opt, RowGradients[] g, double scale, int t) {
        Double own = features.get(t).learningRate();
        double lr = own != null ? own : opt.config().learningRate();
        if (f != null) {
            opt.updateRows(f[t], fs[t], g[t].rows, g[t].values, g[t].count, g[t].dim, scale, lr);
        } else {
            opt.updateRows(d[t], ds[t], g[t].rows, g[t].values, g[t].count, g[t].dim, scale, lr);
        }
    }
}
