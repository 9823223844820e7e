package org.mmoestream.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.mmoestream.config.InputException;
import org.mmoestream.feature.DenseFeature;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.NdAccess;
import org.mmoestream.model.ParamLayout;
import org.mmoestream.model.codec.Safetensors;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.model.codec.Snapshots;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A model that starts from a full snapshot instead of its seed ({@code train.init-from}): each
 * dense tensor, embedding table and dense-feature statistic the spec has under the same name and
 * shape is carried over; a table or tensor the snapshot lacks keeps its initial values (a new
 * feature). The first layer of every expert and gate reads the model input, which a new or dropped
 * feature widens or narrows: its columns are carried over by feature (an input the snapshot lacks
 * gets zero weights, so the model scores as the snapshot did until it learns to use it). Any other
 * tensor whose shape changed is refused with one sentence naming it, and so is an embedding table
 * whose bucket count or dimension changed (its rows are hashed for the old count), or an elapsed
 * feature whose crossing ({@code elapsed_by}) changed. The optimizer's
 * state, step count and the dense-feature statistics' counts come with a snapshot that has the
 * training state of the same optimizer ({@code train-file --save} writes it), else the optimizer
 * restarts from its initial state; the examples seen continue from the snapshot's, and version
 * numbers start at 1 with {@code warm_start} in every version's metrics naming the file, the
 * model and the version it came from, and whether the optimizer was carried or restarted.
 */
final class WarmStart {
    private final String file;
    private final SnapshotState snapshot;
    /** The snapshot's training state (tensors under {@link Snapshots#TRAINING}), or null. */
    private final Safetensors.Content training;

    private WarmStart(String file, SnapshotState snapshot, Safetensors.Content training) {
        this.file = file;
        this.snapshot = snapshot;
        this.training = training;
    }

    /** Reads {@code file}; InputException with one sentence when it is not a full snapshot. */
    static WarmStart read(String file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(Path.of(file));
        } catch (IOException e) {
            throw new InputException("train.init-from: cannot read " + file + " (" + e.getMessage() + ").");
        }
        SnapshotState s = new SnapshotState();
        boolean applied;
        try {
            applied = s.apply(bytes);
        } catch (RuntimeException e) {
            throw new InputException("train.init-from: " + file + " is not a model snapshot (" + e.getMessage() + ").");
        }
        if (!applied) {
            throw new InputException("train.init-from: " + file + " is a delta, not a full snapshot.");
        }
        Safetensors.Content c = Safetensors.read(bytes);
        return new WarmStart(file, s, c.metadata().containsKey("training_optimizer") ? c : null);
    }

    /** The model id the snapshot names: the model that starts from it. */
    String modelId() {
        return snapshot.modelId();
    }

    /**
     * Fails with one sentence when a model of {@code spec} cannot start from the snapshot: a dense
     * tensor or an embedding table of the same name with another shape.
     */
    void check(ModelSpec spec) {
        int[] oneRow = new int[spec.features().sparse().size()];
        java.util.Arrays.fill(oneRow, 1);
        MmoeModel probe = MmoeModel.createCompact(spec, 0, org.nd4j.linalg.api.buffer.DataType.FLOAT, oneRow);
        check(spec, probe.network().layout().entries());
    }

    /** As {@link #check(ModelSpec)}, for a model of {@code spec} whose dense tensors are {@code layout}. */
    private void check(ModelSpec spec, List<ParamLayout.Entry> layout) {
        List<ParamLayout.Entry> source = snapshot.model().network().layout().entries();
        for (ParamLayout.Entry e : layout) {
            for (ParamLayout.Entry s : source) {
                if (s.name().equals(e.name())
                        && (s.rows() != e.rows() || s.cols() != e.cols())
                        && !inputLayer(s, e, spec)) {
                    throw refused(
                            e.name(), "[" + s.rows() + ", " + s.cols() + "]", "[" + e.rows() + ", " + e.cols() + "]");
                }
            }
        }
        List<SparseFeature> tables = snapshot.model().spec().features().sparse();
        for (SparseFeature sf : spec.features().sparse()) {
            int j = indexOf(tables, sf.name());
            if (j >= 0
                    && (tables.get(j).buckets() != sf.buckets() || tables.get(j).dim() != sf.dim())) {
                throw refused(
                        "embedding." + sf.name() + ".weight",
                        "[" + tables.get(j).buckets() + ", " + tables.get(j).dim() + "]",
                        "[" + sf.buckets() + ", " + sf.dim() + "]");
            }
            if (j >= 0 && !java.util.Objects.equals(tables.get(j).elapsedBy(), sf.elapsedBy())) {
                // Its rows are hashed for other values (<hours> against <hours>x<class>).
                throw new InputException("train.init-from: the elapsed feature " + sf.name() + " is crossed with "
                        + crossing(tables.get(j)) + " in " + file + " and with " + crossing(sf) + " in the spec, so "
                        + "the model cannot start from it; give the feature another name to start its table afresh.");
            }
        }
    }

    /**
     * Copies what carries over into {@code model} (whose rows {@code rows} keeps: every row copied is
     * marked changed, so the first checkpoint holds it) and returns the {@code warm_start} JSON.
     */
    String apply(MmoeModel model, WorkingSet rows) {
        MmoeModel from = snapshot.model();
        ModelSpec spec = model.spec();
        check(spec, model.network().layout().entries());
        List<ParamLayout.Entry> source = from.network().layout().entries();
        NdAccess dst = model.network().paramAccess();
        NdAccess src = from.network().paramAccess();
        for (ParamLayout.Entry e : model.network().layout().entries()) {
            ParamLayout.Entry s = source.stream()
                    .filter(x -> x.name().equals(e.name()))
                    .findFirst()
                    .orElse(null);
            if (s == null) {
                continue;
            }
            if (s.cols() != e.cols()) { // a first layer whose input changed (check() refused any other)
                copyInputColumns(s, src, e, dst, spec);
                continue;
            }
            float[] buf = new float[e.size()];
            src.readFloats(s.offset(), buf, 0, buf.length);
            dst.writeFloats(e.offset(), buf, 0, buf.length);
        }
        List<DenseFeature> dense = from.spec().features().dense();
        for (int i = 0; i < spec.features().dense().size(); i++) {
            String name = spec.features().dense().get(i).name();
            for (int j = 0; j < dense.size(); j++) {
                if (dense.get(j).name().equals(name)) {
                    model.normalizer()
                            .set(
                                    i,
                                    from.normalizer().count(j),
                                    from.normalizer().mean(j),
                                    from.normalizer().variance(j));
                }
            }
        }
        List<SparseFeature> tables = from.spec().features().sparse();
        for (int f = 0; f < spec.features().sparse().size(); f++) {
            SparseFeature sf = spec.features().sparse().get(f);
            int j = indexOf(tables, sf.name());
            if (j < 0) {
                continue;
            }
            if (!rows.resident(f)) {
                throw new InputException("train.init-from: the table of " + sf.name() + " does not fit "
                        + "train.working-set-rows, and a model starts from a snapshot only when all its tables do.");
            }
            // The row's value from the snapshot, its optimizer state the model's initial one.
            float[] row = new float[sf.dim() * (1 + model.embeddings().stateSlots())];
            float[] fromRow = new float[sf.dim() * (1 + from.embeddings().stateSlots())];
            for (int id = 0; id < sf.buckets(); id++) {
                from.embeddings().readRow(j, id, fromRow);
                model.embeddings().readRow(f, id, row);
                System.arraycopy(fromRow, 0, row, 0, sf.dim());
                model.embeddings().writeRow(f, id, row);
                rows.changed(f, id);
            }
        }
        boolean carried = carryTrainingState(model);
        ObjectNode w = new ObjectMapper().createObjectNode();
        w.put("file", file);
        w.put("model", snapshot.modelId());
        w.put("version", snapshot.version());
        w.put("examples_seen", snapshot.examplesSeen());
        w.put("optimizer", carried ? "carried" : "restarted");
        return w.toString();
    }

    /**
     * The snapshot's training state into {@code model} when it has one for the same optimizer: the
     * step count, each dense tensor's and table's optimizer state where the model's has the same
     * name and shape, and the dense-feature statistics' counts, means and variances by feature.
     * Returns whether it did; otherwise the optimizer restarts from its initial state at step 0.
     */
    private boolean carryTrainingState(MmoeModel model) {
        String kind = model.spec().optimizer().kind().key();
        if (training == null || !kind.equals(training.metadata().get("training_optimizer"))) {
            model.restoreCounters(0, snapshot.examplesSeen(), 0);
            return false;
        }
        Map<String, Safetensors.Tensor> t = training.tensors();
        String prefix = Snapshots.TRAINING + "optimizer.";
        List<INDArray> slots = model.denseOptimizerState();
        for (int s = 0; s < slots.size(); s++) {
            NdAccess a = NdAccess.of(slots.get(s));
            for (ParamLayout.Entry e : model.network().layout().entries()) {
                Safetensors.Tensor v = t.get(prefix + s + "." + e.name());
                if (v != null && v.f32() != null && v.f32().length == e.size()) {
                    a.writeFloats(e.offset(), v.f32(), 0, e.size());
                }
            }
        }
        int stateSlots = model.embeddings().stateSlots();
        for (int f = 0; f < model.spec().features().sparse().size(); f++) {
            SparseFeature sf = model.spec().features().sparse().get(f);
            int dim = sf.dim();
            float[][] state = new float[stateSlots][];
            for (int s = 0; s < stateSlots; s++) {
                Safetensors.Tensor v = t.get(prefix + s + ".embedding." + sf.name() + ".weight");
                state[s] = v != null && v.f32() != null && v.f32().length == sf.buckets() * dim ? v.f32() : null;
            }
            float[] row = new float[dim * (1 + stateSlots)];
            for (int id = 0; id < sf.buckets() && stateSlots > 0 && state[0] != null; id++) {
                model.embeddings().readRow(f, id, row);
                for (int s = 0; s < stateSlots; s++) {
                    if (state[s] != null) {
                        System.arraycopy(state[s], id * dim, row, (s + 1) * dim, dim);
                    }
                }
                model.embeddings().writeRow(f, id, row);
            }
        }
        List<DenseFeature> dense = model.spec().features().dense();
        for (int i = 0; i < dense.size(); i++) {
            Safetensors.Tensor v =
                    t.get(Snapshots.TRAINING + "dense." + dense.get(i).name() + ".stats");
            if (v != null && v.i64() != null && v.i64().length == 3) {
                model.normalizer()
                        .set(
                                i,
                                Double.longBitsToDouble(v.i64()[0]),
                                Double.longBitsToDouble(v.i64()[1]),
                                Double.longBitsToDouble(v.i64()[2]));
            }
        }
        model.restoreCounters(Long.parseLong(training.metadata().get("training_step")), snapshot.examplesSeen(), 0);
        return true;
    }

    /**
     * Whether {@code e} (and {@code s}, its namesake in the snapshot) is a first layer, reading the
     * input (a stacked PLE level above the first, {@code level.<k>.*}, reads the level below instead).
     */
    private boolean inputLayer(ParamLayout.Entry s, ParamLayout.Entry e, ModelSpec spec) {
        return e.weight()
                && !e.name().startsWith("level.")
                && s.rows() == e.rows()
                && s.cols() == snapshot.model().spec().features().inputDim()
                && e.cols() == spec.features().inputDim();
    }

    /**
     * The snapshot's first-layer weights {@code s} into {@code e}, column by column of the input:
     * each sparse feature's embedding columns and each dense feature's column by name; the columns
     * of an input the snapshot lacks are zero.
     */
    private void copyInputColumns(
            ParamLayout.Entry s, NdAccess src, ParamLayout.Entry e, NdAccess dst, ModelSpec spec) {
        org.mmoestream.feature.FeatureSpec old = snapshot.model().spec().features();
        org.mmoestream.feature.FeatureSpec now = spec.features();
        int[] from = new int[e.cols()];
        java.util.Arrays.fill(from, -1);
        for (int f = 0; f < now.sparse().size(); f++) {
            SparseFeature sf = now.sparse().get(f);
            int j = indexOf(old.sparse(), sf.name());
            // A bias feature has no columns in the first layers (it feeds the bias tower).
            if (j >= 0
                    && old.sparse().get(j).dim() == sf.dim()
                    && !sf.bias()
                    && !old.sparse().get(j).bias()) {
                for (int k = 0; k < sf.dim(); k++) {
                    from[now.sparseOffset(f) + k] = old.sparseOffset(j) + k;
                }
            }
        }
        for (int i = 0; i < now.dense().size(); i++) {
            for (int j = 0; j < old.dense().size(); j++) {
                if (old.dense().get(j).name().equals(now.dense().get(i).name())) {
                    from[now.denseOffset() + i] = old.denseOffset() + j;
                }
            }
        }
        float[] oldRow = new float[s.cols()];
        float[] newRow = new float[e.cols()];
        for (int r = 0; r < e.rows(); r++) {
            src.readFloats(s.offset() + r * s.cols(), oldRow, 0, oldRow.length);
            for (int c = 0; c < newRow.length; c++) {
                newRow[c] = from[c] < 0 ? 0f : oldRow[from[c]];
            }
            dst.writeFloats(e.offset() + r * e.cols(), newRow, 0, newRow.length);
        }
    }

    private static int indexOf(List<SparseFeature> features, String name) {
        for (int i = 0; i < features.size(); i++) {
            if (features.get(i).name().equals(name)) {
                return i;
            }
        }
        return -1;
    }

    private static String crossing(SparseFeature f) {
        return f.elapsedBy() == null
                ? "nothing"
                : f.elapsedBy().feature() + " at " + f.elapsedBy().bounds() + " (elapsed_by)";
    }

    private InputException refused(String tensor, String was, String is) {
        return new InputException("train.init-from: " + tensor + " is " + was + " in " + file + " and " + is
                + " in the spec, so the model cannot start from it.");
    }
}
