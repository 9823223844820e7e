package org.mmoestream.train;

import java.util.BitSet;
import java.util.List;
import java.util.Map;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.model.Batch;
import org.mmoestream.model.Embeddings;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.codec.Snapshots;
import org.mmoestream.model.optim.OptimizerConfig;

/**
 * The embedding rows of one model in memory, in the model's own tables (pure: no Flink). A feature
 * whose table fits the row budget keeps every row resident at its id: initialized from the seed,
 * overlaid with the stored rows on load, and trained with no lookup at all. A larger one keeps a
 * working set of slots mapped from ids: a row is loaded from the store (or initialized) on first
 * use, and when the set is full its changed rows are written back and the slots freed. The set
 * tracks the rows changed since the last {@link #flush} (to write to the store before a checkpoint)
 * and since the last {@link #clearTouched} (the rows of the next delta version).
 */
final class WorkingSet {
    private final ModelSpec spec;
    private final long seed;
    private final List<SparseFeature> features;
    private final int[] dims;
    private final double[] initialState;
    /** Per feature: null when every row is resident at its id, else the id -> slot map. */
    private final IntSlots[] slots;
    /** Per feature: the rows changed since the last flush, by id (resident) or by slot (working set). */
    private final BitSet[] dirty;
    /**
     * Per channel and feature: the ids changed since the channel was last cleared. Channel
     * {@link #VERSIONS} tracks the rows of the next delta version; {@link #SYNC} those of the next
     * synchronization of a model trained on several subtasks.
     */
    private final BitSet[][] touched;

    static final int VERSIONS = 0;
    static final int SYNC = 1;
    private final int[][] mapped;
    private IntSlots seen = new IntSlots(64);
    private Embeddings tables;

    /**
     * The table rows of each feature for a budget of {@code rowBudget} resident rows: every bucket
     * when the whole model fits, else every bucket of the features that fit an equal share, and a
     * working set of the rest of the budget (at least 8 rows per example of a batch) for the others.
     */
    static int[] capacities(ModelSpec spec, long rowBudget, int batchSize) {
        List<SparseFeature> fs = spec.features().sparse();
        int[] cap = new int[fs.size()];
        long total = fs.stream().mapToLong(SparseFeature::buckets).sum();
        long share = fs.isEmpty() ? 0 : rowBudget / fs.size();
        long left = rowBudget;
        int hashed = 0;
        for (int f = 0; f < cap.length; f++) {
            if (total <= rowBudget || fs.get(f).buckets() <= share) {
                cap[f] = fs.get(f).buckets();
                left -= cap[f];
            } else {
                hashed++;
            }
        }
        for (int f = 0; f < cap.length; f++) {
            if (cap[f] == 0) {
                long each = Math.max(0, left) / hashed;
                cap[f] = (int) Math.min(fs.get(f).buckets(), Math.max(each, 8L * batchSize));
            }
        }
        return cap;
    }

    WorkingSet(ModelSpec spec, long seed, int[] capacities) {
        this.spec = spec;
        this.seed = seed;
        this.features = spec.features().sparse();
        int n = features.size();
        OptimizerConfig opt = spec.optimizer();
        initialState = new double[opt.stateSlots()];
        for (int s = 0; s < initialState.length; s++) {
            initialState[s] = opt.initialState(s);
        }
        dims = new int[n];
        slots = new IntSlots[n];
        dirty = new BitSet[n];
        touched = new BitSet[2][n];
        mapped = new int[n][];
        int widest = 0;
        for (int f = 0; f < n; f++) {
            dims[f] = features.get(f).dim();
            widest = Math.max(widest, dims[f]);
            boolean resident = capacities[f] >= features.get(f).buckets();
            slots[f] = resident ? null : new IntSlots(capacities[f]);
            dirty[f] = new BitSet();
            touched[VERSIONS][f] = new BitSet();
            touched[SYNC][f] = new BitSet();
            mapped[f] = new int[64];
        }
    }

    /** Whether every row of feature {@code f} is resident at its id. */
    boolean resident(int f) {
        return slots[f] == null;
    }

    /** Uses {@code tables} (the model's, of the capacities given) and fills them from {@code store}. */
    void load(Embeddings tables, RowStore store) throws Exception {
        this.tables = tables;
        for (int f = 0; f < features.size(); f++) {
            if (slots[f] == null) {
                tables.initializeTable(f, seed, initialState);
            } else {
                slots[f].clear();
            }
            dirty[f].clear();
        }
        for (Map.Entry<Long, float[]> e : store.entries()) {
            int f = RowStore.feature(e.getKey());
            if (f >= 0 && f < features.size() && slots[f] == null) {
                tables.writeRow(f, RowStore.id(e.getKey()), e.getValue());
            }
        }
    }

    /** Rows in memory (resident tables and working sets). */
    int residentRows() {
        int n = 0;
        for (int f = 0; f < features.size(); f++) {
            n += slots[f] == null ? features.get(f).buckets() : slots[f].size();
        }
        return n;
    }

    /**
     * The batch with each id of a working-set feature replaced by its slot, its rows loaded from
     * {@code store} (or initialized) first; when {@code training}, every row of the batch counts as
     * changed. Valid until the next call.
     */
    Batch map(Batch b, RowStore store, boolean training) throws Exception {
        int[][] ids = new int[features.size()][];
        for (int f = 0; f < features.size(); f++) {
            int[] in = b.ids(f);
            int uses = b.uses(f);
            if (slots[f] == null) {
                ids[f] = in;
                if (training) {
                    for (int i = 0; i < uses; i++) {
                        dirty[f].set(in[i]);
                        markTouched(f, in[i]);
                    }
                }
                continue;
            }
            makeRoom(f, in, uses, store);
            if (mapped[f].length < uses) {
                mapped[f] = new int[Math.max(uses, mapped[f].length * 2)];
            }
            IntSlots s = slots[f];
            for (int i = 0; i < uses; i++) {
                int id = in[i];
                int slot = s.get(id);
                if (slot < 0) {
                    slot = s.add(id);
                    loadRow(f, id, slot, store);
                }
                mapped[f][i] = slot;
                if (training) {
                    dirty[f].set(slot);
                    markTouched(f, id);
                }
            }
            ids[f] = mapped[f];
        }
        return b.withIds(ids);
    }

    /** Frees the working set of feature f (changed rows written back) when the batch's new ids do not fit. */
    private void makeRoom(int f, int[] in, int uses, RowStore store) throws Exception {
        IntSlots s = slots[f];
        if (seen.capacity() < uses) {
            seen = new IntSlots(uses);
        }
        seen.clear();
        int fresh = 0;
        for (int i = 0; i < uses; i++) {
            if (s.get(in[i]) < 0 && seen.get(in[i]) < 0) {
                seen.add(in[i]);
                fresh++;
            }
        }
        if (s.size() + fresh <= s.capacity()) {
            return;
        }
        flush(f, store);
        s.clear();
        if (seen.size() > s.capacity()) {
            int grown = Math.max(seen.size(), s.capacity() * 2);
            s.resize(grown);
            tables.resize(f, grown);
        }
    }

    private void loadRow(int f, int id, int slot, RowStore store) throws Exception {
        float[] row = store.get(RowStore.key(f, id));
        if (row == null) {
            row = initialRow(f, id);
        }
        tables.writeRow(f, slot, row);
    }

    /** The initial value and optimizer state of row {@code id} of feature f. */
    private float[] initialRow(int f, int id) {
        int dim = dims[f];
        double[] v = new double[dim];
        Embeddings.initialRow(seed, f, id, v);
        float[] row = new float[dim * (1 + initialState.length)];
        for (int k = 0; k < dim; k++) {
            row[k] = (float) v[k];
        }
        for (int s = 0; s < initialState.length; s++) {
            java.util.Arrays.fill(row, (s + 1) * dim, (s + 2) * dim, (float) initialState[s]);
        }
        return row;
    }

    /** Writes every row changed since the last flush to {@code store}; returns how many. */
    int flush(RowStore store) throws Exception {
        int n = 0;
        for (int f = 0; f < features.size(); f++) {
            n += flush(f, store);
        }
        return n;
    }

    private int flush(int f, RowStore store) throws Exception {
        BitSet d = dirty[f];
        if (d.isEmpty()) {
            return 0;
        }
        int rowWidth = dims[f] * (1 + initialState.length);
        Map<Long, float[]> out = new java.util.HashMap<>(d.cardinality() * 2);
        for (int i = d.nextSetBit(0); i >= 0; i = d.nextSetBit(i + 1)) {
            int id = slots[f] == null ? i : slots[f].id(i);
            float[] row = new float[rowWidth];
            tables.readRow(f, i, row);
            out.put(RowStore.key(f, id), row);
        }
        store.putAll(out);
        d.clear();
        return out.size();
    }

    private void markTouched(int f, int id) {
        touched[VERSIONS][f].set(id);
        touched[SYNC][f].set(id);
    }

    /**
     * Marks row {@code id} of feature f (resident) as changed outside a training step: a delta of a
     * model trained on several subtasks was added to it.
     */
    void changed(int f, int id) {
        dirty[f].set(id);
        markTouched(f, id);
    }

    /** Per feature, the ids changed since the last {@link #clearTouched} of {@code channel}, ascending. */
    int[][] touched(int channel) {
        int[][] out = new int[features.size()][];
        for (int f = 0; f < out.length; f++) {
            out[f] = touched[channel][f].stream().toArray();
        }
        return out;
    }

    /** The ids changed since the last version. */
    int[][] touched() {
        return touched(VERSIONS);
    }

    void clearTouched(int channel) {
        for (BitSet t : touched[channel]) {
            t.clear();
        }
    }

    void clearTouched() {
        clearTouched(VERSIONS);
    }

    /** Whether every row of every feature is resident (a model that fits the row budget). */
    boolean allResident() {
        for (IntSlots s : slots) {
            if (s != null) {
                return false;
            }
        }
        return true;
    }

    /** The current value of any row: in memory, else stored, else initial. */
    Snapshots.RowSource rows(RowStore store) {
        return (f, id, dst) -> {
            int slot = slots[f] == null ? id : slots[f].get(id);
            if (slot >= 0) {
                tables.tableAccess(f).read(slot * dims[f], dst, 0, dims[f]);
                return;
            }
            float[] row;
            try {
                row = store.get(RowStore.key(f, id));
            } catch (Exception e) {
                throw new IllegalStateException("cannot read row " + id + " of table " + f, e);
            }
            if (row == null) {
                Embeddings.initialRow(seed, f, id, dst);
            } else {
                for (int k = 0; k < dims[f]; k++) {
                    dst[k] = row[k];
                }
            }
        };
    }

    /**
     * Every row of every table, for a full snapshot: resident tables as they are; for working-set
     * features, initial values overlaid by the stored rows (one pass over the store) and by the
     * rows in memory.
     */
    Snapshots.RowSource fullRows(RowStore store) throws Exception {
        float[][] built = new float[features.size()][];
        boolean any = false;
        for (int f = 0; f < built.length; f++) {
            if (slots[f] != null) {
                any = true;
                int dim = dims[f];
                built[f] = new float[features.get(f).buckets() * dim];
                double[] v = new double[dim];
                for (int id = 0; id < features.get(f).buckets(); id++) {
                    Embeddings.initialRow(seed, f, id, v);
                    for (int k = 0; k < dim; k++) {
                        built[f][id * dim + k] = (float) v[k];
                    }
                }
            }
        }
        if (any) {
            for (Map.Entry<Long, float[]> e : store.entries()) {
                int f = RowStore.feature(e.getKey());
                if (f >= 0 && f < built.length && built[f] != null) {
                    System.arraycopy(e.getValue(), 0, built[f], RowStore.id(e.getKey()) * dims[f], dims[f]);
                }
            }
            for (int f = 0; f < built.length; f++) {
                if (built[f] != null) {
                    for (int slot = 0; slot < slots[f].size(); slot++) {
                        tables.tableAccess(f)
                                .readFloats(slot * dims[f], built[f], slots[f].id(slot) * dims[f], dims[f]);
                    }
                }
            }
        }
        return (f, id, dst) -> {
            if (built[f] == null) {
                tables.tableAccess(f).read(id * dims[f], dst, 0, dims[f]);
            } else {
                for (int k = 0; k < dims[f]; k++) {
                    dst[k] = built[f][id * dims[f] + k];
                }
            }
        };
    }
}
