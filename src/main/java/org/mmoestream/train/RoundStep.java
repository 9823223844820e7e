package org.mmoestream.train;

import java.util.Arrays;
import java.util.List;
import org.mmoestream.model.Embeddings;
import org.mmoestream.model.MmoeModel;

/**
 * The reducer's arithmetic of a round (pure: no Flink): the shares' gradients averaged, weighted
 * by their examples, into the model's gradient buffers, and one optimizer step on them, as one
 * trainer takes on the union of the shares. Its scratch arrays are reused from round to round.
 */
final class RoundStep {
    private float[] dense = new float[0];
    private float[] share = new float[0];

    /** Receives each row the step changed: table, id. */
    interface RowSink {
        void changed(int table, int id);
    }

    /**
     * One step on {@code shares} ({@code total} examples in those with a gradient): the shares'
     * gradients in sum units (full shares' means times their examples, sparse shares' entries and
     * the passes of what replicas held back, {@code train.gradient-density}), added up and divided
     * by the larger of {@code total} and {@code batch}: a round of fewer examples than the batch
     * takes a step scaled by its share of a full one, as one trainer's partial batch does ({@link
     * MmoeModel#scalePartialBatches}). The rows it changed go to {@code changed}. Returns whether
     * the step was taken (its gradient was finite).
     */
    boolean step(MmoeModel model, List<ReplicaGradient> shares, int total, int batch, RowSink changed) {
        int n = model.network().paramAccess().length();
        if (dense.length != n) {
            dense = new float[n];
            share = new float[n];
        }
        Arrays.fill(dense, 0f);
        int[] dims =
                model.spec().features().sparse().stream().mapToInt(f -> f.dim()).toArray();
        int[] uses = new int[dims.length];
        // Sum units (what replicas held back included) over the batch: a round smaller than the
        // batch takes a step as small as its share of it.
        int sums = Math.max(total, batch);
        for (ReplicaGradient g : shares) {
            if (!g.heldBack && (g.skipped || g.examples == 0)) {
                continue;
            }
            ReplicaGradient.floatsOf(g.dense, share);
            if (g.sparse) {
                float w = (float) g.examples / sums;
                int[] ids = g.denseIds;
                for (int i = 0; i < ids.length; i++) {
                    dense[ids[i]] += w * share[i];
                }
            } else {
                float w = g.heldBack ? 1f / sums : (float) g.examples / sums;
                for (int i = 0; i < n; i++) {
                    dense[i] += w * share[i];
                }
            }
            for (long key : g.rowKeys) {
                uses[RowStore.feature(key)]++;
            }
        }
        model.network().gradAccess().writeFloats(0, dense, 0, n);
        Embeddings.RowGradients[] rg = model.emptyRowGradients(uses);
        for (ReplicaGradient g : shares) {
            if (g.skipped || g.examples == 0) {
                continue;
            }
            double w = (double) g.examples / sums;
            int pos = 0;
            for (long key : g.rowKeys) {
                int f = RowStore.feature(key);
                rg[f].add(RowStore.id(key), g.rows, pos, w);
                pos += dims[f];
            }
        }
        if (!model.applyGradients(rg, total)) {
            return false;
        }
        for (int f = 0; f < rg.length; f++) {
            for (int i = 0; i < rg[f].count(); i++) {
                changed.changed(f, rg[f].row(i));
            }
        }
        return true;
    }
}
