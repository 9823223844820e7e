package org.mmoestream.model;

import java.util.List;
import org.mmoestream.feature.EncodedExample;

/**
 * A micro-batch in columnar form: per sparse feature the ids of all rows in CSR layout, the dense
 * values [rows, dense] row-major, and per task the labels of all rows.
 */
public final class Batch {
    final int rows;
    final int[][] ids;
    final int[][] offsets;
    final double[] dense;
    final float[][] labels;

    private Batch(int rows, int[][] ids, int[][] offsets, double[] dense, float[][] labels) {
        this.rows = rows;
        this.ids = ids;
        this.offsets = offsets;
        this.dense = dense;
        this.labels = labels;
    }

    /** Packs examples; labels are kept only when every example has them. */
    public static Batch of(List<EncodedExample> examples) {
        if (examples.isEmpty()) {
            throw new IllegalArgumentException("empty batch");
        }
        int rows = examples.size();
        EncodedExample first = examples.get(0);
        int sparse = first.sparseIds().length;
        int nd = first.dense().length;
        int[][] ids = new int[sparse][];
        int[][] offsets = new int[sparse][];
        for (int f = 0; f < sparse; f++) {
            int total = 0;
            for (EncodedExample e : examples) {
                total += e.sparseIds()[f].length;
            }
            ids[f] = new int[total];
            offsets[f] = new int[rows + 1];
            int pos = 0;
            for (int r = 0; r < rows; r++) {
                int[] v = examples.get(r).sparseIds()[f];
                System.arraycopy(v, 0, ids[f], pos, v.length);
                pos += v.length;
                offsets[f][r + 1] = pos;
            }
        }
        double[] dense = new double[rows * nd];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(examples.get(r).dense(), 0, dense, r * nd, nd);
        }
        float[][] labels = null;
        if (examples.stream().allMatch(e -> e.labels() != null)) {
            int tasks = first.labels().length;
            labels = new float[tasks][rows];
            for (int r = 0; r < rows; r++) {
                for (int t = 0; t < tasks; t++) {
                    labels[t][r] = examples.get(r).labels()[t];
                }
            }
        }
        return new Batch(rows, ids, offsets, dense, labels);
    }

    /** The same batch with other sparse ids (same CSR layout), e.g. slots of a compact table. */
    public Batch withIds(int[][] newIds) {
        return new Batch(rows, newIds, offsets, dense, labels);
    }

    /**
     * Rows [{@code from}, {@code to}) as a batch of their own (copies; ids as they are), for a step
     * whose rows are computed on several threads; {@code nd} dense values per row.
     */
    public Batch slice(int from, int to, int nd) {
        if (from < 0 || to > rows || from >= to) {
            throw new IllegalArgumentException("rows [" + from + ", " + to + ") of a batch of " + rows);
        }
        int n = to - from;
        int[][] sIds = new int[ids.length][];
        int[][] sOffsets = new int[ids.length][];
        for (int f = 0; f < ids.length; f++) {
            int base = offsets[f][from];
            sIds[f] = java.util.Arrays.copyOfRange(ids[f], base, offsets[f][to]);
            sOffsets[f] = new int[n + 1];
            for (int r = 0; r <= n; r++) {
                sOffsets[f][r] = offsets[f][from + r] - base;
            }
        }
        double[] sDense = java.util.Arrays.copyOfRange(dense, from * nd, to * nd);
        float[][] sLabels = null;
        if (labels != null) {
            sLabels = new float[labels.length][];
            for (int t = 0; t < labels.length; t++) {
                sLabels[t] = java.util.Arrays.copyOfRange(labels[t], from, to);
            }
        }
        return new Batch(n, sIds, sOffsets, sDense, sLabels);
    }

    /**
     * The ids of sparse feature {@code f} for all rows, CSR order (do not modify); the first {@link
     * #uses}{@code (f)} entries are the batch's (the array may be longer).
     */
    public int[] ids(int f) {
        return ids[f];
    }

    /** Number of ids of sparse feature {@code f} in the batch. */
    public int uses(int f) {
        return offsets[f][rows];
    }

    public int rows() {
        return rows;
    }

    public boolean labeled() {
        return labels != null;
    }

    /** Label of task {@code t} on row {@code r}. */
    public float label(int t, int r) {
        return labels[t][r];
    }

    /**
     * Builds batches from flat encoded examples (all sparse ids feature after feature, with a count
     * per feature) into arrays reused from batch to batch: a built batch is valid until the next
     * {@link #clear}, and must not be kept.
     */
    public static final class Builder {
        private final int features;
        private final int denseCount;
        private final int tasks;
        private int rows;
        private int[][] ids;
        private int[][] offsets;
        private int[] used;
        private double[] dense;
        private float[][] labels;

        public Builder(int features, int denseCount, int tasks) {
            this.features = features;
            this.denseCount = denseCount;
            this.tasks = tasks;
            ids = new int[features][64];
            offsets = new int[features][65];
            used = new int[features];
            dense = new double[64 * denseCount];
            labels = new float[tasks][64];
        }

        /** Starts a new batch. */
        public void clear() {
            rows = 0;
            java.util.Arrays.fill(used, 0);
        }

        public int rows() {
            return rows;
        }

        /** Adds one example: {@code flatIds} holds {@code counts[f]} ids of feature f, feature after feature. */
        public void add(int[] flatIds, int[] counts, double[] denseValues, float[] labelValues) {
            if (counts.length != features || denseValues.length != denseCount || labelValues.length != tasks) {
                throw new IllegalArgumentException("an example of " + counts.length + " sparse, " + denseValues.length
                        + " dense and " + labelValues.length + " labels does not fit a batch of " + features + ", "
                        + denseCount
                        + " and " + tasks);
            }
            if (rows + 1 >= offsets[0].length) {
                int cap = offsets[0].length * 2;
                for (int f = 0; f < features; f++) {
                    offsets[f] = java.util.Arrays.copyOf(offsets[f], cap);
                }
                dense = java.util.Arrays.copyOf(dense, (cap - 1) * denseCount);
                for (int t = 0; t < tasks; t++) {
                    labels[t] = java.util.Arrays.copyOf(labels[t], cap - 1);
                }
            }
            int pos = 0;
            for (int f = 0; f < features; f++) {
                int n = counts[f];
                if (n < 1) {
                    throw new IllegalArgumentException("sparse feature " + f + " has no value");
                }
                if (used[f] + n > ids[f].length) {
                    ids[f] = java.util.Arrays.copyOf(ids[f], Math.max(ids[f].length * 2, used[f] + n));
                }
                System.arraycopy(flatIds, pos, ids[f], used[f], n);
                pos += n;
                offsets[f][rows] = used[f];
                used[f] += n;
                offsets[f][rows + 1] = used[f];
            }
            System.arraycopy(denseValues, 0, dense, rows * denseCount, denseCount);
            for (int t = 0; t < tasks; t++) {
                labels[t][rows] = labelValues[t];
            }
            rows++;
        }

        /** The batch of the examples added since {@link #clear}. */
        public Batch build() {
            if (rows == 0) {
                throw new IllegalArgumentException("empty batch");
            }
            return new Batch(rows, ids, offsets, dense, labels);
        }
    }
}
