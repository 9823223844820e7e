package org.mmoestream.train;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.Batch;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.codec.SyncSnapshots;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Training in synchronous rounds in one process (pure: no Flink, no Kafka), with the job's own
 * parts: N {@link ReplicaRuntime}s compute the gradients of their shares on the current version,
 * the reducer's {@link RoundStep} takes the step, and every replica applies the next
 * synchronization version ({@link SyncSnapshots}). For comparing the quality of N replicas with one
 * trainer on the same examples in the same order ({@code bin/mmoe bench rounds}).
 */
public final class SynchronousRounds {
    private SynchronousRounds() {}

    /**
     * A model of {@code spec} from {@code seed} after one pass over {@code examples} in order: with
     * one replica, one trainer in batches of {@code batch}; with N, rounds of {@code batch} examples,
     * the first {@code batch} / N of each round the first replica's share, and so on.
     */
    public static MmoeModel train(ModelSpec spec, long seed, List<EncodedExample> examples, int batch, int replicas) {
        return train(spec, seed, examples, batch, replicas, 1);
    }

    /**
     * As {@link #train(ModelSpec, long, List, int, int)}, each replica sending the largest {@code
     * density} of its dense gradient's entries per round ({@code train.gradient-density}; nothing is
     * forgotten, there being no checkpoints), and each version the dense parameters the round changed.
     */
    public static MmoeModel train(
            ModelSpec spec, long seed, List<EncodedExample> examples, int batch, int replicas, double density) {
        return train(MmoeModel.create(spec, seed, DataType.FLOAT), seed, examples, batch, replicas, density);
    }

    /**
     * As {@link #train(ModelSpec, long, List, int, int, double)}, from {@code model} (the reducer's,
     * or the one trainer's), which it trains and returns; the replicas are made of its spec and
     * {@code seed} and start from its values.
     */
    public static MmoeModel train(
            MmoeModel model, long seed, List<EncodedExample> examples, int batch, int replicas, double density) {
        ModelSpec spec = model.spec();
        if (replicas == 1) {
            // As the job's single trainer, which the reducer's rounds match.
            model.scalePartialBatches(batch);
            for (int at = 0; at < examples.size(); at += batch) {
                model.trainStep(Batch.of(examples.subList(at, Math.min(examples.size(), at + batch))));
            }
            return model;
        }
        List<ReplicaRuntime> rs = new ArrayList<>();
        byte[] first = SyncSnapshots.write(model, "m", 0, -1, true, null, true);
        SyncedDense synced = new SyncedDense();
        if (density < 1) {
            synced.sentAll(model.network().paramAccess());
        }
        for (int i = 0; i < replicas; i++) {
            ReplicaRuntime r = new ReplicaRuntime("m", i, spec, seed).withGradientDensity(density);
            r.apply(List.of(first));
            rs.add(r);
        }
        int tables = spec.features().sparse().size();
        BitSet[] touched = new BitSet[tables];
        for (int f = 0; f < tables; f++) {
            touched[f] = new BitSet();
        }
        RoundStep step = new RoundStep();
        int share = (batch + replicas - 1) / replicas;
        long version = 0;
        for (int at = 0; at < examples.size(); ) {
            List<ReplicaGradient> shares = new ArrayList<>();
            int total = 0;
            for (ReplicaRuntime r : rs) {
                int n = Math.min(share, examples.size() - at);
                if (n <= 0) {
                    break;
                }
                List<TrainExample> xs = new ArrayList<>(n);
                for (EncodedExample e : examples.subList(at, at + n)) {
                    xs.add(TrainExample.of("", "m", 0, 0, e));
                }
                at += n;
                ReplicaGradient g = r.gradient(xs);
                model.normalizer().mergeAll(g.stats);
                total += g.skipped ? 0 : g.examples;
                shares.add(g);
            }
            if (total > 0) {
                step.step(model, shares, total, batch, (f, id) -> touched[f].set(id));
            }
            int[][] ids = new int[tables][];
            for (int f = 0; f < tables; f++) {
                ids[f] = touched[f].stream().toArray();
                touched[f].clear();
            }
            int[] denseIds = density < 1 ? synced.changed(model.network().paramAccess()) : null;
            byte[] next = SyncSnapshots.write(model, "m", version + 1, version, false, ids, true, denseIds);
            version++;
            for (ReplicaRuntime r : rs) {
                r.apply(List.of(next));
            }
        }
        // As at the end of the input: what the replicas held back, in one last step.
        List<ReplicaGradient> back = new ArrayList<>();
        for (ReplicaRuntime r : rs) {
            if (r.holdsBack()) {
                back.add(r.sendHeldBack());
            }
        }
        if (!back.isEmpty()) {
            step.step(model, back, 0, batch, (f, id) -> {});
        }
        return model;
    }
}
