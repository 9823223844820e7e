package org.mmoestream.train;

/**
 * What one replica of a model trained on several subtasks learned since its last delta: the
 * change of every dense parameter and of its optimizer state, the change of every embedding row it
 * trained (value and optimizer state), the dense-feature statistics of its new examples, its
 * counters, and what the reducer needs for the progressive metrics (each example's predictions
 * before training, with its labels) and for freshness. The reducer adds it to the model. A Flink
 * POJO of primitive arrays.
 */
public class ModelDelta {
    public String model;
    public int replica;
    /** A replica's first message: it has no model yet and waits for a full synchronization version. */
    public boolean hello;
    /** The replica missed a synchronization version and asks for a full one (no change carried). */
    public boolean resync;
    /** Deltas of one replica are numbered 1, 2, ... from its start. */
    public long seq;

    public long examples;
    public long steps;
    public long skipped;
    /** Change of the dense parameters, in layout order. */
    public float[] dense;
    /** Change of the dense optimizer state, slot after slot, in layout order. */
    public float[] denseState;
    /** Per standardized dense feature, (count, mean, M2) of the new examples' values. */
    public double[] stats;
    /** The rows changed, as {@link RowStore#key}, and their changes (value and state) one after the other. */
    public long[] rowKeys;

    public float[] rows;
    /** Per head, the predictions before training of the new examples that it measures, and their labels. */
    public float[][] predictions;

    public boolean[][] positives;
    /** When the join made the new examples' labels final (wall clock ms; those known). */
    public long[] labeledAt;
    /** Per task and expert, the sum of the gate weights over the new examples; and their number. */
    public double[] gateSums;

    public long gateRows;

    public ModelDelta() {}

    /** A replica's first message: no change; the reducer answers with a full synchronization version. */
    static ModelDelta hello(String model, int replica) {
        ModelDelta d = empty(model, replica);
        d.hello = true;
        return d;
    }

    /** A request for a full synchronization version from a replica that missed one. */
    static ModelDelta resync(String model, int replica) {
        ModelDelta d = empty(model, replica);
        d.resync = true;
        return d;
    }

    private static ModelDelta empty(String model, int replica) {
        ModelDelta d = new ModelDelta();
        d.model = model;
        d.replica = replica;
        d.dense = new float[0];
        d.denseState = new float[0];
        d.stats = new double[0];
        d.rowKeys = new long[0];
        d.rows = new float[0];
        d.predictions = new float[0][];
        d.positives = new boolean[0][];
        d.labeledAt = new long[0];
        d.gateSums = new double[0];
        return d;
    }

    /** Whether this carries no change (a hello or a resync request). */
    boolean isRequest() {
        return hello || resync;
    }

    @Override
    public String toString() {
        return "delta " + seq + " of replica " + replica + " of " + model + " (" + examples + " examples)";
    }
}
