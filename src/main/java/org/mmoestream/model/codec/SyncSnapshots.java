package org.mmoestream.model.codec;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.NdAccess;
import org.mmoestream.model.ParamLayout;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The synchronization versions of a model trained on several subtasks: what the reducer sends the
 * replicas so that each trains on the current model, optimizer state included (the model topic's
 * snapshots carry no optimizer state). Safetensors like the snapshots, format {@code
 * mmoe-stream/sync-1}, internal to the job: every dense tensor by name, {@code optimizer.<slot>}
 * (the dense optimizer state, layout order), {@code normalizer.count|mean|var}, and per table
 * {@code embedding.<f>.rows} ([rows, dim * (1 + slots)]: value then state, as the trainer stores
 * rows) for every row (full) or, with {@code embedding.<f>.ids}, for the rows changed since the
 * base version (delta). Values are absolute, not changes. Metadata {@code applied} lists, per
 * replica, the last of its deltas the version includes ({@code replica:seq,...}), so a replica
 * knows which of its own changes it still has to add on top.
 */
public final class SyncSnapshots {
    public static final String FORMAT = "mmoe-stream/sync-1";

    private SyncSnapshots() {}

    /**
     * Version {@code version} of {@code m}, whose tables hold every row at its id: full, or a delta
     * on {@code base} with the rows {@code ids[f]} of each table.
     */
    public static byte[] write(
            MmoeModel m, String model, long version, long base, boolean full, int[][] ids, Map<Integer, Long> applied) {
        Map<String, Safetensors.Tensor> t = new LinkedHashMap<>();
        NdAccess p = m.network().paramAccess();
        for (ParamLayout.Entry e : m.network().layout().entries()) {
            float[] v = new float[e.size()];
            p.readFloats(e.offset(), v, 0, v.length);
            t.put(e.name(), Safetensors.Tensor.f32(e.shape(), v));
        }
        List<INDArray> slots = m.denseOptimizerState();
        for (int s = 0; s < slots.size(); s++) {
            float[] v = new float[p.length()];
            NdAccess.of(slots.get(s)).readFloats(0, v, 0, v.length);
            t.put("optimizer." + s, Safetensors.Tensor.f32(new long[] {v.length}, v));
        }
        int nd = m.spec().features().dense().size();
        long[] count = new long[nd];
        float[] mean = new float[nd];
        float[] var = new float[nd];
        for (int i = 0; i < nd; i++) {
            count[i] = (long) m.normalizer().count(i);
            mean[i] = (float) m.normalizer().mean(i);
            var[i] = (float) m.normalizer().variance(i);
        }
        t.put("normalizer.count", Safetensors.Tensor.i64(new long[] {nd}, count));
        t.put("normalizer.mean", Safetensors.Tensor.f32(new long[] {nd}, mean));
        t.put("normalizer.var", Safetensors.Tensor.f32(new long[] {nd}, var));
        int stateSlots = m.embeddings().stateSlots();
        List<SparseFeature> sparse = m.spec().features().sparse();
        for (int f = 0; f < sparse.size(); f++) {
            int width = sparse.get(f).dim() * (1 + stateSlots);
            int n = full ? sparse.get(f).buckets() : ids[f].length;
            float[] rows = new float[n * width];
            float[] row = new float[width];
            long[] keys = full ? null : new long[n];
            for (int i = 0; i < n; i++) {
                int id = full ? i : ids[f][i];
                m.embeddings().readRow(f, id, row);
                System.arraycopy(row, 0, rows, i * width, width);
                if (!full) {
                    keys[i] = id;
                }
            }
            if (!full) {
                t.put("embedding." + sparse.get(f).name() + ".ids", Safetensors.Tensor.i64(new long[] {n}, keys));
            }
            t.put("embedding." + sparse.get(f).name() + ".rows", Safetensors.Tensor.f32(new long[] {n, width}, rows));
        }
        Map<String, String> md = new LinkedHashMap<>();
        md.put("format", FORMAT);
        md.put("model", model);
        md.put("version", Long.toString(version));
        md.put("kind", full ? Snapshots.FULL : Snapshots.DELTA);
        md.put("base_version", Long.toString(base));
        md.put("spec", SpecJson.write(m.spec()));
        md.put("step", Long.toString(m.step()));
        md.put("examples_seen", Long.toString(m.examplesSeen()));
        md.put("skipped", Long.toString(m.skippedBatches()));
        StringBuilder a = new StringBuilder();
        applied.forEach((r, seq) ->
                a.append(a.length() == 0 ? "" : ",").append(r).append(':').append(seq));
        md.put("applied", a.toString());
        return Safetensors.write(new Safetensors.Content(md, t));
    }

    /** The version and kind of a sync version, its base and the replicas' deltas it includes, without decoding it. */
    public record Header(String model, long version, boolean full, long base, Map<Integer, Long> applied) {
        /** The last delta of {@code replica} this version includes, 0 if none. */
        public long applied(int replica) {
            return applied.getOrDefault(replica, 0L);
        }
    }

    public static Header header(byte[] bytes) {
        Map<String, String> md = Safetensors.readHeader(bytes).metadata();
        if (!FORMAT.equals(md.get("format"))) {
            throw new IllegalArgumentException("not a sync version: format '" + md.get("format") + "'");
        }
        Map<Integer, Long> applied = new LinkedHashMap<>();
        String a = md.getOrDefault("applied", "");
        for (String part : a.isEmpty() ? new String[0] : a.split(",")) {
            int colon = part.indexOf(':');
            applied.put(Integer.parseInt(part.substring(0, colon)), Long.parseLong(part.substring(colon + 1)));
        }
        return new Header(
                md.get("model"),
                Long.parseLong(md.get("version")),
                Snapshots.FULL.equals(md.get("kind")),
                Long.parseLong(md.get("base_version")),
                applied);
    }

    /**
     * Sets {@code target} (same spec, every row resident at its id) to the values of a sync version.
     * Everything is checked before anything is written; IllegalArgumentException says what is wrong.
     * Returns the ids of the rows written per table, sorted, or null for a full version (every row).
     */
    public static int[][] apply(byte[] bytes, MmoeModel target) {
        Safetensors.Content c = Safetensors.read(bytes);
        Map<String, String> md = c.metadata();
        if (!FORMAT.equals(md.get("format"))) {
            throw new IllegalArgumentException("not a sync version: format '" + md.get("format") + "'");
        }
        if (!SpecJson.read(md.get("spec")).equals(target.spec())) {
            throw new IllegalArgumentException("a sync version of another spec");
        }
        boolean full = Snapshots.FULL.equals(md.get("kind"));
        NdAccess p = target.network().paramAccess();
        for (ParamLayout.Entry e : target.network().layout().entries()) {
            check(c, e.name(), e.size());
        }
        List<INDArray> slots = target.denseOptimizerState();
        for (int s = 0; s < slots.size(); s++) {
            check(c, "optimizer." + s, p.length());
        }
        int stateSlots = target.embeddings().stateSlots();
        List<SparseFeature> sparse = target.spec().features().sparse();
        for (int f = 0; f < sparse.size(); f++) {
            int width = sparse.get(f).dim() * (1 + stateSlots);
            String name = "embedding." + sparse.get(f).name();
            if (full) {
                check(c, name + ".rows", sparse.get(f).buckets() * width);
            } else {
                Safetensors.Tensor ids = c.tensors().get(name + ".ids");
                if (ids == null || ids.i64() == null) {
                    throw new IllegalArgumentException("sync version lacks " + name + ".ids");
                }
                for (long id : ids.i64()) {
                    if (id < 0 || id >= sparse.get(f).buckets()) {
                        throw new IllegalArgumentException(name + ".ids has id " + id + " outside the table");
                    }
                }
                check(c, name + ".rows", ids.i64().length * width);
            }
        }
        int nd = target.spec().features().dense().size();
        Safetensors.Tensor counts = c.tensors().get("normalizer.count");
        if (counts == null || counts.i64() == null || counts.i64().length != nd) {
            throw new IllegalArgumentException("sync version lacks int64 tensor normalizer.count of " + nd + " values");
        }
        check(c, "normalizer.mean", nd);
        check(c, "normalizer.var", nd);
        for (ParamLayout.Entry e : target.network().layout().entries()) {
            float[] v = c.tensors().get(e.name()).f32();
            p.writeFloats(e.offset(), v, 0, v.length);
        }
        for (int s = 0; s < slots.size(); s++) {
            float[] v = c.tensors().get("optimizer." + s).f32();
            NdAccess.of(slots.get(s)).writeFloats(0, v, 0, v.length);
        }
        long[] count = c.tensors().get("normalizer.count").i64();
        float[] mean = c.tensors().get("normalizer.mean").f32();
        float[] var = c.tensors().get("normalizer.var").f32();
        for (int i = 0; i < count.length; i++) {
            target.normalizer().set(i, count[i], mean[i], var[i]);
        }
        int[][] written = full ? null : new int[sparse.size()][];
        for (int f = 0; f < sparse.size(); f++) {
            int width = sparse.get(f).dim() * (1 + stateSlots);
            String name = "embedding." + sparse.get(f).name();
            float[] rows = c.tensors().get(name + ".rows").f32();
            long[] ids = full ? null : c.tensors().get(name + ".ids").i64();
            int n = rows.length / width;
            float[] row = new float[width];
            for (int i = 0; i < n; i++) {
                System.arraycopy(rows, i * width, row, 0, width);
                target.embeddings().writeRow(f, full ? i : (int) ids[i], row);
            }
            if (!full) {
                written[f] = new int[n];
                for (int i = 0; i < n; i++) {
                    written[f][i] = (int) ids[i];
                }
                java.util.Arrays.sort(written[f]);
            }
        }
        target.restoreCounters(
                Long.parseLong(md.get("step")),
                Long.parseLong(md.get("examples_seen")),
                Long.parseLong(md.get("skipped")));
        return written;
    }

    private static void check(Safetensors.Content c, String name, int size) {
        Safetensors.Tensor t = c.tensors().get(name);
        if (t == null || t.f32() == null || t.f32().length != size) {
            throw new IllegalArgumentException("sync version lacks float32 tensor " + name + " of " + size + " values");
        }
    }
}
