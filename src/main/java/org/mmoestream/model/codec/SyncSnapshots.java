package org.mmoestream.model.codec;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.model.MmoeModel;

/**
 * The synchronization versions of a model trained on several subtasks: what the reducer sends the
 * replicas after each round so that each computes its next gradient on the model the reducer has.
 * Safetensors like the snapshots, format {@code mmoe-stream/sync-3}, internal to the job: {@code
 * dense} (every dense parameter, in layout order; or, in a delta with {@code dense.ids}, the values
 * of those parameters only, the ones the round changed), {@code normalizer.count|mean|var}, and per table
 * {@code embedding.<f>.rows} ([rows, dim]: values, no optimizer state) for every row (full) or, with
 * {@code embedding.<f>.ids}, for the rows changed since the base version (delta). Values are
 * absolute, not changes; a delta after a round that changed nothing has no {@code dense} (the dense
 * parameters are as in its base). The optimizer state stays with the reducer, the only one that
 * takes steps. Values are written from the model and read into it in place, without staging arrays.
 */
public final class SyncSnapshots {
    public static final String FORMAT = "mmoe-stream/sync-3";

    private SyncSnapshots() {}

    /**
     * Version {@code version} of {@code m}, whose tables hold every row at its id: full, or a delta
     * on {@code base} with the rows {@code ids[f]} of each table, and the dense parameters when
     * {@code dense}.
     */
    public static byte[] write(
            MmoeModel m, String model, long version, long base, boolean full, int[][] ids, boolean dense) {
        return write(m, model, version, base, full, ids, dense, null);
    }

    /**
     * As {@link #write(MmoeModel, String, long, long, boolean, int[][], boolean)}; a delta with
     * {@code denseIds} (ascending) carries the values of those dense parameters only.
     */
    public static byte[] write(
            MmoeModel m,
            String model,
            long version,
            long base,
            boolean full,
            int[][] ids,
            boolean dense,
            int[] denseIds) {
        boolean some = dense && !full && denseIds != null;
        int params = m.network().paramAccess().length();
        int nd = m.spec().features().dense().size();
        List<SparseFeature> sparse = m.spec().features().sparse();
        Map<String, Safetensors.Shape> shapes = new LinkedHashMap<>();
        if (some) {
            shapes.put("dense.ids", Safetensors.Shape.i64(denseIds.length));
            shapes.put("dense", Safetensors.Shape.f32(denseIds.length));
        } else if (full || dense) {
            shapes.put("dense", Safetensors.Shape.f32(params));
        }
        shapes.put("normalizer.count", Safetensors.Shape.i64(nd));
        shapes.put("normalizer.mean", Safetensors.Shape.f32(nd));
        shapes.put("normalizer.var", Safetensors.Shape.f32(nd));
        for (int f = 0; f < sparse.size(); f++) {
            int n = full ? sparse.get(f).buckets() : ids[f].length;
            String name = "embedding." + sparse.get(f).name();
            if (!full) {
                shapes.put(name + ".ids", Safetensors.Shape.i64(n));
            }
            shapes.put(name + ".rows", Safetensors.Shape.f32(n, sparse.get(f).dim()));
        }
        Map<String, String> md = new LinkedHashMap<>();
        md.put("format", FORMAT);
        md.put("model", model);
        md.put("version", Long.toString(version));
        md.put("kind", full ? Snapshots.FULL : Snapshots.DELTA);
        md.put("base_version", Long.toString(base));
        if (full) {
            md.put("spec", SpecJson.write(m.spec()));
        }
        md.put("step", Long.toString(m.step()));
        md.put("examples_seen", Long.toString(m.examplesSeen()));
        md.put("skipped", Long.toString(m.skippedBatches()));
        Safetensors.Layout out = new Safetensors.Layout(md, shapes);
        if (some) {
            LongBuffer at = out.i64("dense.ids");
            FloatBuffer values = out.f32("dense");
            for (int id : denseIds) {
                at.put(id);
                values.put((float) m.network().paramAccess().get(id));
            }
        } else if (full || dense) {
            m.network().paramAccess().copyTo(0, out.f32("dense"), params);
        }
        LongBuffer count = out.i64("normalizer.count");
        FloatBuffer mean = out.f32("normalizer.mean");
        FloatBuffer var = out.f32("normalizer.var");
        for (int i = 0; i < nd; i++) {
            count.put((long) m.normalizer().count(i));
            mean.put((float) m.normalizer().mean(i));
            var.put((float) m.normalizer().variance(i));
        }
        float[] values = full ? null : new float[rowValues(sparse, ids)];
        for (int f = 0; f < sparse.size(); f++) {
            String name = "embedding." + sparse.get(f).name();
            FloatBuffer rows = out.f32(name + ".rows");
            if (full) {
                m.embeddings().readAll(f, rows);
            } else {
                int n = ids[f].length;
                m.embeddings().readValues(f, ids[f], n, values);
                rows.put(values, 0, n * sparse.get(f).dim());
                LongBuffer keys = out.i64(name + ".ids");
                for (int id : ids[f]) {
                    keys.put(id);
                }
            }
        }
        return out.bytes();
    }

    /** The version and kind of a sync version and its base, without decoding it. */
    public record Header(String model, long version, boolean full, long base) {}

    public static Header header(byte[] bytes) {
        Map<String, String> md = Safetensors.readHeader(bytes).metadata();
        if (!FORMAT.equals(md.get("format"))) {
            throw new IllegalArgumentException("not a sync version: format '" + md.get("format") + "'");
        }
        return new Header(
                md.get("model"),
                Long.parseLong(md.get("version")),
                Snapshots.FULL.equals(md.get("kind")),
                Long.parseLong(md.get("base_version")));
    }

    /**
     * Sets {@code target} (same spec, every row resident at its id) to the values of a sync version.
     * Everything is checked before anything is written; IllegalArgumentException says what is wrong.
     */
    public static void apply(byte[] bytes, MmoeModel target) {
        Safetensors.Header h = Safetensors.readHeader(bytes);
        Map<String, String> md = h.metadata();
        Map<String, Safetensors.Entry> t = h.entries();
        if (!FORMAT.equals(md.get("format"))) {
            throw new IllegalArgumentException("not a sync version: format '" + md.get("format") + "'");
        }
        boolean full = Snapshots.FULL.equals(md.get("kind"));
        // The optimizer is the reducer's alone: a replica's copy keeps no optimizer state.
        if (full
                && !SpecJson.read(md.get("spec"))
                        .withOptimizer(target.spec().optimizer())
                        .equals(target.spec())) {
            throw new IllegalArgumentException("a sync version of another spec");
        }
        int params = target.network().paramAccess().length();
        boolean some = !full && t.containsKey("dense.ids");
        boolean dense = full || t.containsKey("dense");
        LongBuffer denseIds = null;
        if (some) {
            Safetensors.Entry ids = t.get("dense.ids");
            check(t, "dense.ids", "I64", ids.elements());
            check(t, "dense", "F32", ids.elements());
            denseIds = Safetensors.i64View(bytes, ids);
            long k = ids.elements();
            for (int i = 0; i < k; i++) {
                long id = denseIds.get(i);
                if (id < 0 || id >= params) {
                    throw new IllegalArgumentException(
                            "dense.ids has id " + id + " outside the " + params + " parameters");
                }
            }
        } else if (dense) {
            check(t, "dense", "F32", params);
        }
        int nd = target.spec().features().dense().size();
        check(t, "normalizer.count", "I64", nd);
        check(t, "normalizer.mean", "F32", nd);
        check(t, "normalizer.var", "F32", nd);
        List<SparseFeature> sparse = target.spec().features().sparse();
        // A delta's row ids per table, checked here and written below; and the most values a table's rows hold.
        int[][] rowIds = full ? null : new int[sparse.size()][];
        int mostValues = 0;
        for (int f = 0; f < sparse.size(); f++) {
            String name = "embedding." + sparse.get(f).name();
            long n = sparse.get(f).buckets();
            if (!full) {
                Safetensors.Entry ids = t.get(name + ".ids");
                if (ids == null || ids.shape().length != 1) {
                    throw new IllegalArgumentException("sync version lacks " + name + ".ids");
                }
                n = ids.elements();
                check(t, name + ".ids", "I64", n);
                LongBuffer keys = Safetensors.i64View(bytes, ids);
                rowIds[f] = new int[(int) n];
                for (int i = 0; i < n; i++) {
                    long id = keys.get(i);
                    if (id < 0 || id >= sparse.get(f).buckets()) {
                        throw new IllegalArgumentException(name + ".ids has id " + id + " outside the table");
                    }
                    rowIds[f][i] = (int) id;
                }
                mostValues = Math.max(mostValues, (int) n * sparse.get(f).dim());
            }
            check(t, name + ".rows", "F32", n * sparse.get(f).dim());
        }
        if (some) {
            FloatBuffer values = Safetensors.f32View(bytes, t.get("dense"));
            for (int i = 0; i < values.limit(); i++) {
                target.network().paramAccess().set((int) denseIds.get(i), values.get(i));
            }
        } else if (dense) {
            target.network().paramAccess().copyFrom(0, Safetensors.f32View(bytes, t.get("dense")), params);
        }
        LongBuffer count = Safetensors.i64View(bytes, t.get("normalizer.count"));
        FloatBuffer mean = Safetensors.f32View(bytes, t.get("normalizer.mean"));
        FloatBuffer var = Safetensors.f32View(bytes, t.get("normalizer.var"));
        for (int i = 0; i < nd; i++) {
            target.normalizer().set(i, count.get(i), mean.get(i), var.get(i));
        }
        float[] values = full ? null : new float[mostValues];
        for (int f = 0; f < sparse.size(); f++) {
            String name = "embedding." + sparse.get(f).name();
            FloatBuffer rows = Safetensors.f32View(bytes, t.get(name + ".rows"));
            if (full) {
                target.embeddings().writeAll(f, rows);
            } else {
                int n = rowIds[f].length;
                rows.get(values, 0, n * sparse.get(f).dim());
                target.embeddings().writeValues(f, rowIds[f], n, values);
            }
        }
        target.restoreCounters(
                Long.parseLong(md.get("step")),
                Long.parseLong(md.get("examples_seen")),
                Long.parseLong(md.get("skipped")));
    }

    /** The most values a table's changed rows {@code ids} hold. */
    private static int rowValues(List<SparseFeature> sparse, int[][] ids) {
        int most = 0;
        for (int f = 0; f < sparse.size(); f++) {
            most = Math.max(most, ids[f].length * sparse.get(f).dim());
        }
        return most;
    }

    private static void check(Map<String, Safetensors.Entry> t, String name, String dtype, long size) {
        Safetensors.Entry e = t.get(name);
        if (e == null || !e.dtype().equals(dtype) || e.elements() != size) {
            throw new IllegalArgumentException(
                    "sync version lacks " + dtype + " tensor " + name + " of " + size + " values");
        }
    }
}
