package org.mmoestream.train;

import java.util.Arrays;
import java.util.List;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.model.Batch;
import org.mmoestream.model.Embeddings;
import org.mmoestream.model.GateStatistics;
import org.mmoestream.model.Heads;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.codec.SyncSnapshots;
import org.mmoestream.model.optim.OptimizerConfig;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * One replica of a model trained on several subtasks (pure: no Flink). It holds a copy of the
 * model, every row resident, kept equal to the reducer's by the synchronization versions it
 * applies, and computes the gradient of its share of each round's examples on it ({@link
 * #gradient}). It never takes an optimizer step itself: the reducer averages the shares of a
 * round and takes the one step, so every share of a round is computed on the same model.
 */
final class ReplicaRuntime {
    final String model;
    final int replica;
    private final ModelSpec spec;
    private final MmoeModel local;
    private final Batch.Builder builder;
    private final int[] dims;
    private final LabeledTimes labeled = new LabeledTimes();
    private boolean ready;
    /** The progressive metrics of an early feedback mode (null: every example's labels are final). */
    private Outcomes outcomes;
    /** As {@code ModelRuntime#outcomeClock}. */
    long outcomeClock = Long.MIN_VALUE;

    /** With {@code train.gradient-density} below 1: the entries of the dense gradient held back (null: send all). */
    private SparseGradient sparse;

    private float[] gradient = new float[0];
    private long version = -1;
    /** Whether a version came that does not follow the one applied (a full one is needed). */
    private boolean missed;

    ReplicaRuntime(String model, int replica, ModelSpec spec, long seed) {
        this.model = model;
        this.replica = replica;
        this.spec = spec;
        int[] capacity = spec.features().sparse().stream()
                .mapToInt(SparseFeature::buckets)
                .toArray();
        // No optimizer state: a replica takes no steps (SGD keeps none).
        local = MmoeModel.createCompact(
                spec.withOptimizer(OptimizerConfig.defaults(OptimizerConfig.Kind.SGD)), seed, DataType.FLOAT, capacity);
        builder = new Batch.Builder(
                spec.features().sparse().size(),
                spec.features().dense().size(),
                spec.tasks().size());
        dims = spec.features().sparse().stream().mapToInt(SparseFeature::dim).toArray();
    }

    /**
     * Measures the progressive metrics as an early feedback mode needs ({@link Outcomes}), whose
     * click is known {@code clickHorizon} and every label {@code horizon} (event time, ms) after the
     * impression; 0: as every example's.
     */
    ReplicaRuntime withOutcomes(long clickHorizon, long horizon) {
        outcomes = horizon > 0 ? new Outcomes(spec, clickHorizon, horizon) : null;
        return this;
    }

    /**
     * Sends the largest {@code density} of the dense gradient's entries per share and holds the rest
     * back for later shares ({@link SparseGradient}); 1: every entry, the exact step.
     */
    ReplicaRuntime withGradientDensity(double density) {
        sparse = density < 1 ? new SparseGradient(density, replica) : null;
        return this;
    }

    /** Whether the replica holds back part of its gradients ({@code train.gradient-density} below 1). */
    boolean holdsBack() {
        return sparse != null && sparse.holds();
    }

    /**
     * A pass on the replica's version with everything it held back of its gradients ({@link
     * ReplicaGradient#heldBack}), which it holds no longer: before each checkpoint barrier, so that
     * the checkpoint's model has every example's whole gradient, and at the end of the input.
     */
    ReplicaGradient sendHeldBack() {
        ReplicaGradient g = ReplicaGradient.pass(model, replica, version);
        g.heldBack = true;
        g.dense = ReplicaGradient.bytesOf(sparse.drain());
        return g;
    }

    /** Whether the replica has a model (its first full synchronization version). */
    boolean ready() {
        return ready;
    }

    /** The synchronization version the replica's model is at (-1 before the first). */
    long version() {
        return version;
    }

    MmoeModel model() {
        return local;
    }

    /** Whether the replica missed a synchronization version and needs a full one to go on. */
    boolean missedVersion() {
        return missed;
    }

    /**
     * Applies the synchronization versions read since the last call, oldest first: a full one when
     * it is newer than the replica's model (older ones answered other replicas' hellos), a delta
     * when it follows the version the replica is at. Returns the number applied.
     */
    int apply(List<byte[]> versions) {
        int applied = 0;
        for (byte[] v : versions) {
            SyncSnapshots.Header h = SyncSnapshots.header(v);
            boolean take = h.full() ? !ready || h.version() > version : ready && h.base() == version;
            if (!take) {
                // A delta on a version this replica does not have: it missed one (or it came before
                // the full version that answers this replica's hello).
                missed = missed || (!h.full() && ready && h.version() > version);
                continue;
            }
            SyncSnapshots.apply(v, local);
            version = h.version();
            ready = true;
            missed = false;
            applied++;
        }
        return applied;
    }

    /** The gradient of the mean loss over {@code share}, computed on the replica's current version. */
    ReplicaGradient gradient(List<TrainExample> share) {
        Batch b = LabeledTimes.build(builder, share, labeled);
        ReplicaGradient g = new ReplicaGradient();
        g.model = model;
        g.replica = replica;
        g.base = version;
        g.examples = b.rows();
        g.stats = local.normalizer().batchStatistics(b);
        for (TrainExample e : share) {
            g.trainedUpTo = Math.max(g.trainedUpTo, e.impressionTs);
        }
        MmoeModel.Gradients grad = local.gradients(b);
        if (Double.isFinite(grad.loss())) {
            denseGradient(g);
            rows(grad.rows(), g);
        } else {
            g.skipped = true;
            g.dense = new byte[0];
            g.denseIds = new int[0];
            g.rowKeys = new long[0];
            g.rows = new float[0];
        }
        Measured measured = new Measured(spec.heads().size(), b.rows());
        if (outcomes != null) {
            outcomes.add(share, grad.predictions(), outcomeClock, measured);
        } else {
            Heads.visit(spec, b, grad.predictions(), measured);
        }
        measured.into(g);
        g.labeledAt = labeled.emitted.drain();
        g.finalAt = labeled.finals.drain();
        GateStatistics gates =
                new GateStatistics(spec.tasks().size(), local.network().experts());
        local.addGateStatistics(gates, b.rows());
        g.gateSums = gates.sums();
        g.gateRows = gates.rows();
        return g;
    }

    /** The dense gradient into {@code g}: every entry, or the largest with error feedback. */
    private void denseGradient(ReplicaGradient g) {
        if (sparse == null) {
            g.dense = ReplicaGradient.bytesOf(local.network().gradAccess());
            g.denseIds = new int[0];
            return;
        }
        int n = local.network().gradAccess().length();
        if (gradient.length != n) {
            gradient = new float[n];
        }
        local.network().gradAccess().readFloats(0, gradient, 0, n);
        sparse.compress(gradient, n, g.examples);
        g.sparse = true;
        g.denseIds = sparse.ids();
        g.dense = ReplicaGradient.bytesOf(sparse.values());
    }

    /** Whether impressions wait for their windows to close before the progressive metrics measure them. */
    boolean outcomesPending() {
        return outcomes != null && outcomes.pending() > 0;
    }

    /**
     * A pass (a share of no examples, on the version the replica is at) that carries the
     * measurements of every impression still pending, as if their windows had closed: at the end of
     * the input, where the single trainer measures them too, since no later share will.
     */
    ReplicaGradient measureRemaining() {
        ReplicaGradient g = ReplicaGradient.pass(model, replica, version);
        Measured measured = new Measured(spec.heads().size(), Math.max(1, outcomes.pending()));
        outcomes.add(List.of(), new double[spec.heads().size()][0], Long.MAX_VALUE, measured);
        measured.into(g);
        return g;
    }

    /** Collects the (prediction, label) pairs the progressive metrics measure, per head. */
    private static final class Measured implements Heads.Visitor {
        final float[][] p;
        final float[][] y;
        final int[] n;

        Measured(int heads, int rows) {
            p = new float[heads][rows];
            y = new float[heads][rows];
            n = new int[heads];
        }

        @Override
        public void accept(int h, double prob, double label) {
            if (n[h] == p[h].length) {
                // Impressions whose horizon passed are measured with the batch: more than its rows.
                p[h] = Arrays.copyOf(p[h], 2 * n[h]);
                y[h] = Arrays.copyOf(y[h], 2 * n[h]);
            }
            p[h][n[h]] = (float) prob;
            y[h][n[h]++] = (float) label;
        }

        void into(ReplicaGradient g) {
            g.predictions = new float[p.length][];
            g.labels = new float[p.length][];
            for (int h = 0; h < p.length; h++) {
                g.predictions[h] = Arrays.copyOf(p[h], n[h]);
                g.labels[h] = Arrays.copyOf(y[h], n[h]);
            }
        }
    }

    /** The row gradients into {@code g}: keys, then {@code dim} float32 values per row. */
    private void rows(Embeddings.RowGradients[] rg, ReplicaGradient g) {
        int keys = 0;
        int values = 0;
        for (int t = 0; t < rg.length; t++) {
            keys += rg[t].count();
            values += rg[t].count() * dims[t];
        }
        g.rowKeys = new long[keys];
        g.rows = new float[values];
        int i = 0;
        int pos = 0;
        for (int t = 0; t < rg.length; t++) {
            for (int r = 0; r < rg[t].count(); r++) {
                g.rowKeys[i++] = RowStore.key(t, rg[t].row(r));
                for (int k = 0; k < dims[t]; k++) {
                    g.rows[pos++] = (float) rg[t].value(r, k);
                }
            }
        }
    }
}
