package org.mmoestream.model.codec;

import java.util.Map;
import org.mmoestream.feature.DenseTransform;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.model.MmoeModel;
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

  /** Applies one snapshot; returns false (and changes nothing) for a delta that does not follow. */
  public boolean apply(byte[] bytes) {
    Safetensors.Content c = Safetensors.read(bytes);
    Map<String, String> md = c.metadata();
    if (!Snapshots.FORMAT.equals(md.get("format"))) {
      throw new IllegalArgumentException("unknown snapshot format '" + md.get("format") + "' (expected " + Snapshots.FORMAT + ")");
    }
    long v = Long.parseLong(md.get("version"));
    boolean full = Snapshots.FULL.equals(md.get("kind"));
    if (!full) {
      if (model == null || Long.parseLong(md.get("base_version")) != version) {
        return false;
      }
    } else {
      ModelSpec spec = SpecJson.read(md.get("spec"));
      if (model == null || !spec.equals(model.spec())) {
        model = MmoeModel.create(spec, 0, DataType.FLOAT);
      }
    }
    ModelSpec spec = model.spec();
    NdAccess p = model.network().paramAccess();
    for (ParamLayout.Entry e : model.network().layout().entries()) {
      float[] f = tensor(c, e.name(), e.size()).f32();
      for (int i = 0; i < f.length; i++) {
        p.set(e.offset() + i, f[i]);
      }
    }
    var dense = spec.features().dense();
    for (int i = 0; i < dense.size(); i++) {
      if (dense.get(i).transform() == DenseTransform.STANDARDIZE) {
        String n = "dense." + dense.get(i).name();
        model.normalizer().set(i, 1, tensor(c, n + ".mean", 1).f32()[0], tensor(c, n + ".var", 1).f32()[0]);
      }
    }
    for (int f = 0; f < spec.features().sparse().size(); f++) {
      SparseFeature sf = spec.features().sparse().get(f);
      NdAccess table = model.embeddings().tableAccess(f);
      if (full) {
        float[] w = tensor(c, "embedding." + sf.name() + ".weight", sf.buckets() * sf.dim()).f32();
        for (int i = 0; i < w.length; i++) {
          table.set(i, w[i]);
        }
      } else {
        long[] ids = c.tensors().get("embedding." + sf.name() + ".ids").i64();
        float[] rows = tensor(c, "embedding." + sf.name() + ".rows", ids.length * sf.dim()).f32();
        for (int i = 0; i < ids.length; i++) {
          for (int k = 0; k < sf.dim(); k++) {
            table.set((int) ids[i] * sf.dim() + k, rows[i * sf.dim() + k]);
          }
        }
      }
    }
    version = v;
    modelId = md.get("model");
    examplesSeen = Long.parseLong(md.getOrDefault("examples_seen", "0"));
    metadata = Map.copyOf(md);
    return true;
  }

  private static Safetensors.Tensor tensor(Safetensors.Content c, String name, int size) {
    Safetensors.Tensor t = c.tensors().get(name);
    if (t == null) {
      throw new IllegalArgumentException("snapshot lacks tensor " + name);
    }
    int n = t.f32() != null ? t.f32().length : t.i64().length;
    if (n != size) {
      throw new IllegalArgumentException("tensor " + name + " has " + n + " values, the spec needs " + size);
    }
    return t;
  }

  /** The current state as one full snapshot, with this version's identity and metrics. */
  public byte[] fullSnapshot() {
    return Snapshots.full(model, new Snapshots.Meta(modelId, version, Snapshots.FULL, 0, examplesSeen,
        Long.parseLong(metadata.getOrDefault("created_at", "0")), metadata.getOrDefault("metrics", "{}")),
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
