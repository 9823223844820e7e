package org.mmoestream.train;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.model.Batch;
import org.mmoestream.model.GateStatistics;
import org.mmoestream.model.Heads;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.NdAccess;
import org.mmoestream.model.codec.SyncSnapshots;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One replica of a model trained on several subtasks (pure: no Flink). It trains its share of the
 * examples on its own copy of the model, every row resident; at each synchronization point it
 * hands over what it learned since the last one as a {@link ModelDelta} (the reducer adds the
 * deltas of all replicas to the model), and whenever the reducer's next synchronization version
 * has come (absolute values, optimizer state included) it moves onto it. A delta is a difference
 * against the replica's own state when it sent the previous one (the anchor), so it is right
 * whichever version the replica trained on: staleness slows learning down, it never counts an
 * example twice.
 *
 * <p>Moving onto a version keeps what the replica learned that the version does not include yet
 * (a rebase): its deltas after the last one the version includes ({@code applied} in the version)
 * and what it trained since its last delta. So a replica always trains on the model plus all of
 * its own learning, and only the other replicas' latest changes reach it late.
 *
 * <p>The anchor keeps the dense parameters and optimizer state whole, and a row only from the
 * moment it is first touched after a delta (copied before the step that changes it).
 */
final class ReplicaRuntime {
    final String model;
    final int replica;
    private final ModelSpec spec;
    private final MmoeModel local;
    private final Batch.Builder builder;
    private final int rowWidthSlots;
    private final int[] dims;
    private boolean ready;
    private long syncVersion = -1;
    /** Deltas are numbered from the start time, so a restarted replica never reuses a number. */
    private long seq = System.currentTimeMillis() * 1000;
    /** The deltas sent that no version applied so far includes, oldest first. */
    private final java.util.ArrayDeque<ModelDelta> pending = new java.util.ArrayDeque<>();
    /** Whether the last version read did not follow the one applied (a full version is needed). */
    private boolean missed;
    // The anchor: the state at the last synchronization.
    private float[] anchorDense;
    private float[] anchorState;
    private double[] anchorStats;
    private long anchorSteps;
    private long anchorExamples;
    private long anchorSkipped;
    private final Map<Long, float[]> anchorRows = new HashMap<>();
    // What the reducer needs for the metrics of the examples since the last delta.
    private final List<float[]> predictions = new ArrayList<>();
    private final List<boolean[]> positives = new ArrayList<>();
    private final int[] measured;
    private final LabeledTimes labeled = new LabeledTimes();
    private GateStatistics gates;

    ReplicaRuntime(String model, int replica, ModelSpec spec, long seed) {
        this.model = model;
        this.replica = replica;
        this.spec = spec;
        int[] capacity = spec.features().sparse().stream()
                .mapToInt(SparseFeature::buckets)
                .toArray();
        local = MmoeModel.createCompact(spec, seed, DataType.FLOAT, capacity);
        builder = new Batch.Builder(
                spec.features().sparse().size(),
                spec.features().dense().size(),
                spec.tasks().size());
        rowWidthSlots = 1 + local.embeddings().stateSlots();
        dims = spec.features().sparse().stream().mapToInt(SparseFeature::dim).toArray();
        int heads = spec.heads().size();
        measured = new int[heads];
        for (int h = 0; h < heads; h++) {
            predictions.add(new float[1024]);
            positives.add(new boolean[1024]);
        }
        gates = new GateStatistics(spec.tasks().size(), local.network().experts());
    }

    /** Whether the replica has a model to train on (its first full synchronization version). */
    boolean ready() {
        return ready;
    }

    MmoeModel model() {
        return local;
    }

    /** Trains one batch; the rows it changes are first copied into the anchor. */
    void train(List<TrainExample> batch) {
        Batch b = LabeledTimes.build(builder, batch, labeled);
        for (int f = 0; f < dims.length; f++) {
            int[] ids = b.ids(f);
            for (int i = 0; i < b.uses(f); i++) {
                long key = RowStore.key(f, ids[i]);
                if (!anchorRows.containsKey(key)) {
                    float[] row = new float[dims[f] * rowWidthSlots];
                    local.embeddings().readRow(f, ids[i], row);
                    anchorRows.put(key, row);
                }
            }
        }
        MmoeModel.StepResult r = local.trainStep(b);
        Heads.visit(spec, b, r.predictions(), (h, p, y) -> {
            int n = measured[h]++;
            if (n == predictions.get(h).length) {
                predictions.set(h, java.util.Arrays.copyOf(predictions.get(h), n * 2));
                positives.set(h, java.util.Arrays.copyOf(positives.get(h), n * 2));
            }
            predictions.get(h)[n] = (float) p;
            positives.get(h)[n] = y;
        });
        gates.add(local.network(), local.network().buffers(b.rows()));
    }

    /** Examples in this replica's model: the version's, its pending deltas' and its own since. */
    long examplesSeen() {
        return local.examplesSeen();
    }

    /** Whether anything was trained since the last delta. */
    boolean changed() {
        return local.examplesSeen() != anchorExamples || local.skippedBatches() != anchorSkipped;
    }

    /** What was learned since the anchor, as a delta; the anchor then moves to the current state. */
    ModelDelta delta() {
        ModelDelta d = new ModelDelta();
        d.model = model;
        d.replica = replica;
        d.seq = ++seq;
        d.examples = local.examplesSeen() - anchorExamples;
        d.steps = local.step() - anchorSteps;
        d.skipped = local.skippedBatches() - anchorSkipped;
        float[] dense = ModelStateCodec.dense(local);
        float[] state = ModelStateCodec.denseOptimizer(local);
        d.dense = minus(dense, anchorDense);
        d.denseState = minus(state, anchorState);
        d.stats = newStats(ModelStateCodec.stats(local), anchorStats);
        d.rowKeys = new long[anchorRows.size()];
        d.rows = new float[anchorRows.values().stream().mapToInt(a -> a.length).sum()];
        int i = 0;
        int pos = 0;
        for (Map.Entry<Long, float[]> e : anchorRows.entrySet()) {
            float[] change = changeSinceAnchor(e.getKey(), e.getValue());
            d.rowKeys[i++] = e.getKey();
            System.arraycopy(change, 0, d.rows, pos, change.length);
            pos += change.length;
        }
        int heads = measured.length;
        d.predictions = new float[heads][];
        d.positives = new boolean[heads][];
        for (int h = 0; h < heads; h++) {
            d.predictions[h] = java.util.Arrays.copyOf(predictions.get(h), measured[h]);
            d.positives[h] = java.util.Arrays.copyOf(positives.get(h), measured[h]);
            measured[h] = 0;
        }
        d.labeledAt = labeled.drain();
        d.gateSums = gates.sums();
        d.gateRows = gates.rows();
        gates = new GateStatistics(spec.tasks().size(), local.network().experts());
        anchor(dense, state);
        pending.add(d);
        return d;
    }

    /** Whether the replica missed a synchronization version and needs a full one to go on moving. */
    boolean missedVersion() {
        return missed;
    }

    /** The deltas sent that the versions applied so far do not include. */
    int pending() {
        return pending.size();
    }

    /**
     * Moves onto the synchronization versions read since the last call, oldest first: a full one
     * always, a delta when it follows the last applied version; what the replica learned that a
     * version does not include stays on top of it. Returns the number applied.
     */
    int apply(List<byte[]> versions) {
        int applied = 0;
        for (byte[] v : versions) {
            SyncSnapshots.Header h = SyncSnapshots.header(v);
            if (!h.full() && (!ready || h.base() != syncVersion)) {
                // Not on the version this replica has: it needs a full one (a version it missed, or
                // versions made before the reducer answered its hello).
                missed = ready && h.version() > syncVersion;
                continue;
            }
            missed = false;
            if (ready) {
                rebase(v, h);
            } else {
                SyncSnapshots.apply(v, local);
                pending.clear();
                anchor(ModelStateCodec.dense(local), ModelStateCodec.denseOptimizer(local));
                ready = true;
            }
            syncVersion = h.version();
            applied++;
        }
        return applied;
    }

    /**
     * Sets the model to version {@code v} plus the pending deltas it lacks plus what was trained since the last
     * delta.
     */
    private void rebase(byte[] v, SyncSnapshots.Header h) {
        while (!pending.isEmpty() && pending.peekFirst().seq <= h.applied(replica)) {
            pending.removeFirst();
        }
        // What was trained since the last delta (u), taken before the version overwrites it.
        float[] uDense = minus(ModelStateCodec.dense(local), anchorDense);
        float[] uState = minus(ModelStateCodec.denseOptimizer(local), anchorState);
        double[] uStats = newStats(ModelStateCodec.stats(local), anchorStats);
        long uSteps = local.step() - anchorSteps;
        long uExamples = local.examplesSeen() - anchorExamples;
        long uSkipped = local.skippedBatches() - anchorSkipped;
        Map<Long, float[]> uRows = new HashMap<>();
        for (Map.Entry<Long, float[]> e : anchorRows.entrySet()) {
            uRows.put(e.getKey(), changeSinceAnchor(e.getKey(), e.getValue()));
        }
        int[][] written = SyncSnapshots.apply(v, local);
        // The new anchor: the version plus the pending deltas.
        float[] dense = ModelStateCodec.dense(local);
        float[] state = ModelStateCodec.denseOptimizer(local);
        long steps = local.step();
        long examples = local.examplesSeen();
        long skipped = local.skippedBatches();
        Map<Long, float[]> add = new HashMap<>();
        for (ModelDelta d : pending) {
            addTo(dense, d.dense);
            addTo(state, d.denseState);
            local.normalizer().mergeAll(d.stats);
            steps += d.steps;
            examples += d.examples;
            skipped += d.skipped;
            int pos = 0;
            for (long key : d.rowKeys) {
                int width = dims[RowStore.feature(key)] * rowWidthSlots;
                if (written(written, key)) {
                    float[] sum = add.computeIfAbsent(key, k -> new float[width]);
                    for (int k = 0; k < width; k++) {
                        sum[k] += d.rows[pos + k];
                    }
                }
                pos += width;
            }
        }
        anchorStats = ModelStateCodec.stats(local);
        anchorDense = dense.clone();
        anchorState = state.clone();
        anchorSteps = steps;
        anchorExamples = examples;
        anchorSkipped = skipped;
        // The model: the anchor plus what was trained since the last delta.
        addTo(dense, uDense);
        addTo(state, uState);
        ModelStateCodec.writeDense(local, dense, state);
        local.normalizer().mergeAll(uStats);
        local.restoreCounters(steps + uSteps, examples + uExamples, skipped + uSkipped);
        for (Map.Entry<Long, float[]> e : uRows.entrySet()) {
            if (written(written, e.getKey())) {
                float[] u = e.getValue();
                float[] sum = add.computeIfAbsent(e.getKey(), k -> new float[u.length]);
                addTo(sum, u);
            }
        }
        for (Map.Entry<Long, float[]> e : add.entrySet()) {
            int f = RowStore.feature(e.getKey());
            int id = RowStore.id(e.getKey());
            float[] row = new float[e.getValue().length];
            local.embeddings().readRow(f, id, row);
            addTo(row, e.getValue());
            local.embeddings().writeRow(f, id, row);
        }
        // A touched row's anchor: its value now less what was trained on it since the last delta.
        for (Map.Entry<Long, float[]> e : anchorRows.entrySet()) {
            float[] u = uRows.get(e.getKey());
            float[] a = e.getValue();
            local.embeddings().readRow(RowStore.feature(e.getKey()), RowStore.id(e.getKey()), a);
            for (int k = 0; k < a.length; k++) {
                a[k] -= u[k];
            }
        }
    }

    /** Row {@code key} (value and optimizer state) now, less its anchor {@code before}. */
    private float[] changeSinceAnchor(long key, float[] before) {
        float[] now = new float[before.length];
        local.embeddings().readRow(RowStore.feature(key), RowStore.id(key), now);
        for (int k = 0; k < now.length; k++) {
            now[k] -= before[k];
        }
        return now;
    }

    /** Whether the version's rows ({@code written}: per table, sorted; null for all) include row {@code key}. */
    private static boolean written(int[][] written, long key) {
        return written == null || java.util.Arrays.binarySearch(written[RowStore.feature(key)], RowStore.id(key)) >= 0;
    }

    private static void addTo(float[] a, float[] b) {
        for (int i = 0; i < a.length; i++) {
            a[i] += b[i];
        }
    }

    private void anchor(float[] dense, float[] state) {
        anchorDense = dense;
        anchorState = state;
        anchorStats = ModelStateCodec.stats(local);
        anchorSteps = local.step();
        anchorExamples = local.examplesSeen();
        anchorSkipped = local.skippedBatches();
        anchorRows.clear();
    }

    private static float[] minus(float[] a, float[] b) {
        float[] out = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i] - b[i];
        }
        return out;
    }

    /**
     * (count, mean, M2) per dense feature of the values seen since the anchor, from the running
     * statistics now and at the anchor (count, mean, population variance each): Chan et al.'s
     * combination solved for the new part.
     */
    private static double[] newStats(double[] now, double[] before) {
        double[] out = new double[now.length];
        for (int i = 0; i + 2 < now.length; i += 3) {
            double na = before[i];
            double nt = now[i];
            double nb = nt - na;
            if (nb <= 0) {
                continue;
            }
            double meanA = before[i + 1];
            double meanT = now[i + 1];
            double meanB = (nt * meanT - na * meanA) / nb;
            double m2T = now[i + 2] * nt;
            double m2A = before[i + 2] * na;
            double delta = meanB - meanA;
            double m2B = m2T - m2A - delta * delta * na * nb / nt;
            out[i] = nb;
            out[i + 1] = meanB;
            out[i + 2] = Math.max(0, m2B);
        }
        return out;
    }

    /** The dense parameters as an accessor (tests). */
    NdAccess params() {
        return local.network().paramAccess();
    }

    List<INDArray> denseOptimizerState() {
        return local.denseOptimizerState();
    }
}
