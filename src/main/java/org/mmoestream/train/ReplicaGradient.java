package org.mmoestream.train;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One replica's part of a training round of a model trained on several subtasks: the gradient of
 * the mean loss over its share of the round's examples, computed on synchronization version
 * {@link #base} (dense parameters in layout order, and the rows its examples used), the dense-feature
 * statistics of those examples, and what the reducer needs for the progressive metrics (each
 * example's predictions before the step, with its labels), freshness and gate health. The reducer
 * averages the parts of a round, weighted by their examples, and takes one optimizer step. A share
 * with no examples (a pass) trains nothing; at the end of the input it carries the measurements of
 * the impressions the replica still held for the progressive metrics. A Flink
 * POJO; the dense gradient travels as bytes, which Flink copies in bulk.
 */
public class ReplicaGradient {
    public String model;
    public int replica;
    /** A replica's first message: it has no model yet and waits for a full synchronization version. */
    public boolean hello;
    /** The replica missed a synchronization version and asks for a full one (no gradient carried). */
    public boolean resync;
    /** The synchronization version the gradient was computed on. */
    public long base;
    /** Examples in the share (0: a pass). */
    public int examples;
    /** The share's loss was not finite: its examples are counted as a skipped batch, with no gradient. */
    public boolean skipped;
    /** The latest impression time among the share's examples (Long.MIN_VALUE: none). */
    public long trainedUpTo = Long.MIN_VALUE;
    /**
     * The dense gradient, float32 little-endian: every parameter in layout order, or with {@link
     * #sparse} the values of the parameters {@link #denseIds} only; empty for a pass.
     */
    public byte[] dense;
    /** Whether {@link #dense} holds the entries {@link #denseIds} only ({@code train.gradient-density} below 1). */
    public boolean sparse;
    /**
     * A pass (no examples) that carries what the replica held back of its gradients ({@code
     * train.gradient-density} below 1): every dense entry, summed over examples, which the reducer
     * divides as it does sparse entries ({@link RoundStep}); sent before each checkpoint barrier and
     * at the end of the input.
     */
    public boolean heldBack;
    /** With {@link #sparse}: the parameters (layout order, ascending) whose values {@link #dense} holds. */
    public int[] denseIds;
    /** Per standardized dense feature, (count, mean, M2) of the share's values. */
    public double[] stats;
    /**
     * The rows the share used, as {@link RowStore#key}, and their gradients ({@code dim} values
     * each) one after the other.
     */
    public long[] rowKeys;

    public float[] rows;
    /** Per head, the predictions before the step of the share's examples that it measures, and their labels. */
    public float[][] predictions;

    public float[][] labels;
    /** When the join made the share's labels final (wall clock ms; those known). */
    public long[] labeledAt;
    /** When the share's labels became final (event time ms; those known). */
    public long[] finalAt;
    /** Per task and expert, the sum of the gate weights over the share's examples; and their number. */
    public double[] gateSums;

    public long gateRows;

    public ReplicaGradient() {}

    /** A replica's first message: the reducer answers with a full synchronization version. */
    static ReplicaGradient hello(String model, int replica) {
        ReplicaGradient g = empty(model, replica, -1);
        g.hello = true;
        return g;
    }

    /** A request for a full synchronization version from a replica that missed one. */
    static ReplicaGradient resync(String model, int replica) {
        ReplicaGradient g = empty(model, replica, -1);
        g.resync = true;
        return g;
    }

    /** A share of no examples in the round on version {@code base} (it may carry measurements). */
    static ReplicaGradient pass(String model, int replica, long base) {
        return empty(model, replica, base);
    }

    private static ReplicaGradient empty(String model, int replica, long base) {
        ReplicaGradient g = new ReplicaGradient();
        g.model = model;
        g.replica = replica;
        g.base = base;
        g.dense = new byte[0];
        g.denseIds = new int[0];
        g.stats = new double[0];
        g.rowKeys = new long[0];
        g.rows = new float[0];
        g.predictions = new float[0][];
        g.labels = new float[0][];
        g.labeledAt = new long[0];
        g.finalAt = new long[0];
        g.gateSums = new double[0];
        return g;
    }

    /** Whether this asks for a full synchronization version (a hello or a resync). */
    boolean isRequest() {
        return hello || resync;
    }

    /** Bytes of the gradient, for traffic figures. */
    long bytes() {
        return dense.length + 4L * denseIds.length + 4L * rows.length + 8L * rowKeys.length;
    }

    /** The values of float32 {@code values} as little-endian bytes. */
    static byte[] bytesOf(org.mmoestream.model.NdAccess values) {
        byte[] out = new byte[4 * values.length()];
        values.copyTo(0, ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer(), values.length());
        return out;
    }

    /** {@code values} as float32 little-endian bytes. */
    static byte[] bytesOf(float[] values) {
        byte[] out = new byte[4 * values.length];
        ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(values);
        return out;
    }

    /** Reads the float32 little-endian {@code bytes} into {@code dst}. */
    static void floatsOf(byte[] bytes, float[] dst) {
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(dst, 0, bytes.length / 4);
    }

    @Override
    public String toString() {
        String what = hello ? "hello" : resync ? "resync" : examples + " examples on version " + base;
        return "gradient of replica " + replica + " of " + model + " (" + what + ")";
    }
}
