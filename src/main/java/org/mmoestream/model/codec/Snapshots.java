package org.mmoestream.model.codec;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.mmoestream.feature.DenseTransform;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.model.DenseNormalizer;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.NdAccess;
import org.mmoestream.model.ParamLayout;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Writes model versions as safetensors (DESIGN.md, Model snapshots): a {@code full} snapshot has
 * every dense tensor and every embedding table ({@code embedding.<f>.weight}); a {@code delta} has
 * every dense tensor and, per table, the rows touched since its base version ({@code
 * embedding.<f>.ids}, int64, and {@code embedding.<f>.rows}). Standardized dense features carry
 * {@code dense.<f>.mean} and {@code dense.<f>.var}.
 */
public final class Snapshots {
    public static final String FORMAT = "mmoe-stream/1";
    public static final String FULL = "full";
    public static final String DELTA = "delta";

    private Snapshots() {}

    /** Where embedding rows come from: a full table, or a working set backed by state. */
    public interface RowSource {
        /** Writes the current value of row {@code id} of table {@code f} into {@code dst} (dim). */
        void row(int f, int id, double[] dst);
    }

    /** Identity and bookkeeping of one version. */
    public record Meta(
            String model,
            long version,
            String kind,
            long baseVersion,
            long examplesSeen,
            long createdAt,
            String metricsJson) {}

    /** A full snapshot of {@code m}, its embedding rows read from {@code rows}. */
    public static byte[] full(MmoeModel m, Meta meta, RowSource rows) {
        return full(m, meta, rows, false);
    }

    /**
     * As {@link #full(MmoeModel, Meta, RowSource)}; with {@code trainingState} (a model whose tables
     * are full, as offline training has) also what a trainer needs to go on exactly where {@code m}
     * stopped, which the model topic never carries: metadata {@code training_optimizer} (the
     * optimizer's type) and {@code training_step} (its step count), {@code
     * training.optimizer.<slot>.<tensor>} for every dense tensor and every table ({@code
     * embedding.<f>.weight}) with the optimizer's state slot in the tensor's shape, and {@code
     * training.dense.<f>.stats} per dense feature: its running count, mean and variance as the
     * int64 bits of IEEE-754 doubles. Readers of the model ignore these tensors.
     */
    public static byte[] full(MmoeModel m, Meta meta, RowSource rows, boolean trainingState) {
        Map<String, Safetensors.Tensor> t = denseTensors(m);
        double[] row = new double[0];
        for (int f = 0; f < m.spec().features().sparse().size(); f++) {
            SparseFeature sf = m.spec().features().sparse().get(f);
            if (row.length != sf.dim()) {
                row = new double[sf.dim()];
            }
            float[] table = new float[sf.buckets() * sf.dim()];
            for (int id = 0; id < sf.buckets(); id++) {
                rows.row(f, id, row);
                for (int k = 0; k < row.length; k++) {
                    table[id * row.length + k] = (float) row[k];
                }
            }
            t.put(
                    "embedding." + sf.name() + ".weight",
                    Safetensors.Tensor.f32(new long[] {sf.buckets(), sf.dim()}, table));
        }
        Map<String, String> md = metadata(m, meta);
        if (trainingState) {
            trainingState(m, t, md);
        }
        return Safetensors.write(new Safetensors.Content(md, t));
    }

    /** Prefix of the training-state tensors of a full snapshot ({@link #full(MmoeModel, Meta, RowSource, boolean)}). */
    public static final String TRAINING = "training.";

    private static void trainingState(MmoeModel m, Map<String, Safetensors.Tensor> t, Map<String, String> md) {
        md.put("training_optimizer", m.spec().optimizer().kind().key());
        md.put("training_step", Long.toString(m.step()));
        List<INDArray> slots = m.denseOptimizerState();
        for (int s = 0; s < slots.size(); s++) {
            NdAccess a = NdAccess.of(slots.get(s));
            for (ParamLayout.Entry e : m.network().layout().entries()) {
                float[] v = new float[e.size()];
                a.readFloats(e.offset(), v, 0, v.length);
                t.put(TRAINING + "optimizer." + s + "." + e.name(), Safetensors.Tensor.f32(e.shape(), v));
            }
        }
        int stateSlots = m.embeddings().stateSlots();
        for (int f = 0; f < m.spec().features().sparse().size(); f++) {
            SparseFeature sf = m.spec().features().sparse().get(f);
            int dim = sf.dim();
            float[] row = new float[dim * (1 + stateSlots)];
            float[][] state = new float[stateSlots][sf.buckets() * dim];
            for (int id = 0; id < sf.buckets(); id++) {
                m.embeddings().readRow(f, id, row);
                for (int s = 0; s < stateSlots; s++) {
                    System.arraycopy(row, (s + 1) * dim, state[s], id * dim, dim);
                }
            }
            for (int s = 0; s < stateSlots; s++) {
                t.put(
                        TRAINING + "optimizer." + s + ".embedding." + sf.name() + ".weight",
                        Safetensors.Tensor.f32(new long[] {sf.buckets(), dim}, state[s]));
            }
        }
        DenseNormalizer norm = m.normalizer();
        var dense = m.spec().features().dense();
        for (int i = 0; i < dense.size(); i++) {
            long[] bits = {
                Double.doubleToRawLongBits(norm.count(i)),
                Double.doubleToRawLongBits(norm.mean(i)),
                Double.doubleToRawLongBits(norm.variance(i))
            };
            t.put(TRAINING + "dense." + dense.get(i).name() + ".stats", Safetensors.Tensor.i64(new long[] {3}, bits));
        }
    }

    /** A delta of {@code m}: dense tensors and the rows {@code touched[f]} of each table. */
    public static byte[] delta(MmoeModel m, Meta meta, int[][] touched, RowSource rows) {
        Map<String, Safetensors.Tensor> t = denseTensors(m);
        for (int f = 0; f < touched.length; f++) {
            SparseFeature sf = m.spec().features().sparse().get(f);
            int dim = sf.dim();
            long[] ids = new long[touched[f].length];
            float[] values = new float[ids.length * dim];
            double[] row = new double[dim];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = touched[f][i];
                rows.row(f, touched[f][i], row);
                for (int k = 0; k < dim; k++) {
                    values[i * dim + k] = (float) row[k];
                }
            }
            t.put("embedding." + sf.name() + ".ids", Safetensors.Tensor.i64(new long[] {ids.length}, ids));
            t.put("embedding." + sf.name() + ".rows", Safetensors.Tensor.f32(new long[] {ids.length, dim}, values));
        }
        return Safetensors.write(new Safetensors.Content(metadata(m, meta), t));
    }

    /** Rows of a model whose tables are full (offline training, a reader's model). */
    public static RowSource tablesOf(MmoeModel m) {
        return (f, id, dst) -> m.embeddings().tableAccess(f).read(id * dst.length, dst, 0, dst.length);
    }

    private static Map<String, String> metadata(MmoeModel m, Meta meta) {
        Map<String, String> md = new LinkedHashMap<>();
        md.put("format", FORMAT);
        md.put("model", meta.model());
        md.put("version", Long.toString(meta.version()));
        md.put("kind", meta.kind());
        if (meta.kind().equals(DELTA)) {
            md.put("base_version", Long.toString(meta.baseVersion()));
        }
        md.put("spec", SpecJson.write(m.spec()));
        md.put("examples_seen", Long.toString(meta.examplesSeen()));
        md.put("created_at", Long.toString(meta.createdAt()));
        md.put("metrics", meta.metricsJson() == null ? "{}" : meta.metricsJson());
        return md;
    }

    private static Map<String, Safetensors.Tensor> denseTensors(MmoeModel m) {
        Map<String, Safetensors.Tensor> t = new LinkedHashMap<>();
        NdAccess p = m.servedParams();
        for (ParamLayout.Entry e : m.network().layout().entries()) {
            double[] v = new double[e.size()];
            p.read(e.offset(), v, 0, v.length);
            float[] f = new float[v.length];
            for (int i = 0; i < v.length; i++) {
                f[i] = (float) v[i];
            }
            t.put(e.name(), Safetensors.Tensor.f32(e.shape(), f));
        }
        DenseNormalizer norm = m.normalizer();
        var dense = m.spec().features().dense();
        for (int i = 0; i < dense.size(); i++) {
            if (dense.get(i).transform() == DenseTransform.STANDARDIZE) {
                t.put(
                        "dense." + dense.get(i).name() + ".mean",
                        Safetensors.Tensor.f32(new long[] {1}, new float[] {(float) norm.mean(i)}));
                t.put(
                        "dense." + dense.get(i).name() + ".var",
                        Safetensors.Tensor.f32(new long[] {1}, new float[] {(float) norm.variance(i)}));
            }
        }
        return t;
    }
}
