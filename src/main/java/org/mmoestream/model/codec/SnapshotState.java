package org.mmoestream.model.codec;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.mmoestream.feature.DenseTransform;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.MmoeNetwork;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.NdAccess;
import org.mmoestream.model.ParamLayout;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * A model rebuilt from snapshots: a full snapshot sets everything; a delta whose base version is
 * the current version updates the dense tensors and its rows. A delta that does not follow the
 * current version is refused (the caller waits for the next full snapshot).
 */
public final class SnapshotState {
    private MmoeModel model;
    private String modelId;
    private long version = -1;
    private long examplesSeen;
    private Map<String, String> metadata = Map.of();

    /**
     * Applies one snapshot; returns false (and changes nothing) for a delta that does not follow.
     * Everything is checked before anything is written, so a snapshot that is not readable (a
     * missing tensor, a wrong size, an id out of range) throws IllegalArgumentException and leaves
     * the current version as it was.
     */
    public boolean apply(byte[] bytes) {
        Safetensors.Content c = Safetensors.read(bytes);
        Map<String, String> md = c.metadata();
        if (!Snapshots.FORMAT.equals(md.get("format"))) {
            throw new IllegalArgumentException(
                    "unknown snapshot format '" + md.get("format") + "' (expected " + Snapshots.FORMAT + ")");
        }
        long v = number(md, "version");
        boolean full = Snapshots.FULL.equals(md.get("kind"));
        if (!full && !Snapshots.DELTA.equals(md.get("kind"))) {
            throw new IllegalArgumentException("unknown snapshot kind '" + md.get("kind") + "'");
        }
        MmoeModel target = model;
        if (!full) {
            if (model == null || number(md, "base_version") != version) {
                return false;
            }
        } else {
            ModelSpec spec = SpecJson.read(md.get("spec"));
            if (model == null || !spec.equals(model.spec())) {
                target = MmoeModel.create(spec, 0, DataType.FLOAT);
            }
        }
        List<Runnable> writes = new ArrayList<>();
        ModelSpec spec = target.spec();
        NdAccess p = target.network().paramAccess();
        for (ParamLayout.Entry e : target.network().layout().entries()) {
            float[] f = tensor(c, e.name(), e.size()).f32();
            writes.add(() -> p.writeFloats(e.offset(), f, 0, f.length));
        }
        var dense = spec.features().dense();
        for (int i = 0; i < dense.size(); i++) {
            if (dense.get(i).transform() == DenseTransform.STANDARDIZE) {
                String n = "dense." + dense.get(i).name();
                float mean = tensor(c, n + ".mean", 1).f32()[0];
                float var = tensor(c, n + ".var", 1).f32()[0];
                MmoeModel m = target;
                int feature = i;
                writes.add(() -> m.normalizer().set(feature, 1, mean, var));
            }
        }
        for (int f = 0; f < spec.features().sparse().size(); f++) {
            SparseFeature sf = spec.features().sparse().get(f);
            NdAccess table = target.embeddings().tableAccess(f);
            int dim = sf.dim();
            if (full) {
                float[] w = tensor(c, "embedding." + sf.name() + ".weight", sf.buckets() * dim)
                        .f32();
                writes.add(() -> table.writeFloats(0, w, 0, w.length));
            } else {
                Safetensors.Tensor idTensor = c.tensors().get("embedding." + sf.name() + ".ids");
                if (idTensor == null || idTensor.i64() == null) {
                    throw new IllegalArgumentException("snapshot lacks int64 tensor embedding." + sf.name() + ".ids");
                }
                long[] ids = idTensor.i64();
                for (long id : ids) {
                    if (id < 0 || id >= sf.buckets()) {
                        throw new IllegalArgumentException(
                                "embedding." + sf.name() + ".ids has id " + id + " outside [0, " + sf.buckets() + ")");
                    }
                }
                float[] rows = tensor(c, "embedding." + sf.name() + ".rows", ids.length * dim)
                        .f32();
                writes.add(() -> {
                    for (int i = 0; i < ids.length; i++) {
                        table.writeFloats((int) ids[i] * dim, rows, i * dim, dim);
                    }
                });
            }
        }
        long seen = md.containsKey("examples_seen") ? number(md, "examples_seen") : 0;
        writes.forEach(Runnable::run);
        model = target;
        version = v;
        modelId = md.get("model");
        examplesSeen = seen;
        metadata = Map.copyOf(md);
        return true;
    }

    /**
     * Checks, without decoding any value, that {@code bytes} is a full snapshot that {@link #apply}
     * would accept: format, kind, version, spec, and every tensor the spec needs with its size.
     * Throws IllegalArgumentException saying what is wrong.
     */
    public static void checkFull(byte[] bytes) {
        Safetensors.Header h = Safetensors.readHeader(bytes);
        Map<String, String> md = h.metadata();
        if (!Snapshots.FORMAT.equals(md.get("format"))) {
            throw new IllegalArgumentException(
                    "unknown snapshot format '" + md.get("format") + "' (expected " + Snapshots.FORMAT + ")");
        }
        if (!Snapshots.FULL.equals(md.get("kind"))) {
            throw new IllegalArgumentException("not a full snapshot: kind '" + md.get("kind") + "'");
        }
        number(md, "version");
        ModelSpec spec = SpecJson.read(md.get("spec"));
        MmoeNetwork net = new MmoeNetwork(
                spec.architecture(),
                spec.features().inputDim(),
                spec.features().biasDim(),
                spec.tasks(),
                DataType.FLOAT);
        for (ParamLayout.Entry e : net.layout().entries()) {
            checkEntry(h, e.name(), e.size());
        }
        for (SparseFeature sf : spec.features().sparse()) {
            checkEntry(h, "embedding." + sf.name() + ".weight", (long) sf.buckets() * sf.dim());
        }
        var dense = spec.features().dense();
        for (int i = 0; i < dense.size(); i++) {
            if (dense.get(i).transform() == DenseTransform.STANDARDIZE) {
                checkEntry(h, "dense." + dense.get(i).name() + ".mean", 1);
                checkEntry(h, "dense." + dense.get(i).name() + ".var", 1);
            }
        }
    }

    private static void checkEntry(Safetensors.Header h, String name, long size) {
        Safetensors.Entry e = h.entries().get(name);
        if (e == null || !e.dtype().equals("F32")) {
            throw new IllegalArgumentException("snapshot lacks float32 tensor " + name);
        }
        if (e.elements() != size) {
            throw new IllegalArgumentException(
                    "tensor " + name + " has " + e.elements() + " values, the spec needs " + size);
        }
    }

    private static long number(Map<String, String> md, String key) {
        String v = md.get(key);
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("metadata " + key + " is not a number: '" + v + "'");
        }
    }

    private static Safetensors.Tensor tensor(Safetensors.Content c, String name, int size) {
        Safetensors.Tensor t = c.tensors().get(name);
        if (t == null || t.f32() == null) {
            throw new IllegalArgumentException("snapshot lacks float32 tensor " + name);
        }
        int n = t.f32() != null ? t.f32().length : t.i64().length;
        if (n != size) {
            throw new IllegalArgumentException("tensor " + name + " has " + n + " values, the spec needs " + size);
        }
        return t;
    }

    /** The current state as one full snapshot, with this version's identity and metrics. */
    public byte[] fullSnapshot() {
        return Snapshots.full(
                model,
                new Snapshots.Meta(
                        modelId,
                        version,
                        Snapshots.FULL,
                        0,
                        examplesSeen,
                        Long.parseLong(metadata.getOrDefault("created_at", "0")),
                        metadata.getOrDefault("metrics", "{}")),
                Snapshots.tablesOf(model));
    }

    /** The rebuilt model, or null before the first full snapshot. */
    public MmoeModel model() {
        return model;
    }

    public long version() {
        return version;
    }

    public String modelId() {
        return modelId;
    }

    public long examplesSeen() {
        return examplesSeen;
    }

    public Map<String, String> metadata() {
        return metadata;
    }
}
