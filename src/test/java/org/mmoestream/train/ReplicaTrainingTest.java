package org.mmoestream.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.NdAccess;
import org.mmoestream.model.Variant;
import org.mmoestream.model.codec.SpecJson;
import org.mmoestream.publish.ChunkAssembler;
import org.mmoestream.publish.ModelChunk;
import org.mmoestream.testing.TestSpecs;

/**
 * Replicas and the reducer ({@link ReplicaRuntime}, {@link DeltaReducer} in a keyed harness on
 * RocksDB): what they compute together is what one trainer computes alone, and what two replicas
 * learn on the same version is added, not averaged or lost.
 */
class ReplicaTrainingTest {
    private static final int BATCH = 8;
    private static final long SEED = 7;
    private static final ModelSpec SPEC = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());

    private static TrainOperator.Settings trainSettings() {
        return TrainOperator.Settings.of(SpecJson.write(SPEC))
                .withBatchSize(BATCH)
                .withSeed(SEED)
                .withPublishInterval(60_000)
                .withMaxMessageBytes(4096);
    }

    /** The reducer, the replicas and the sync versions between them. */
    private static final class Group implements AutoCloseable {
        final KeyedOneInputStreamOperatorTestHarness<String, ModelDelta, ModelChunk> reducer;
        final ChunkAssembler assembler = new ChunkAssembler();
        final List<byte[]> syncs = new ArrayList<>();
        int seen;
        long now;

        Group() throws Exception {
            this(null);
        }

        /** A reducer restored from {@code restore} (a snapshot of the trainer's state), when not null. */
        Group(OperatorSubtaskState restore) throws Exception {
            reducer = new KeyedOneInputStreamOperatorTestHarness<>(
                    new DeltaReducer(trainSettings()), d -> d.model, Types.STRING);
            reducer.setStateBackend(new EmbeddedRocksDBStateBackend());
            if (restore != null) {
                reducer.initializeState(restore);
            }
            reducer.open();
            reducer.setProcessingTime(now);
        }

        void send(ModelDelta d) throws Exception {
            reducer.processElement(d, 0);
        }

        /** Lets the reducer's sync timer fire; returns the sync versions it sent so far. */
        List<byte[]> tick() throws Exception {
            now += 20;
            reducer.setProcessingTime(now);
            var out = reducer.getSideOutput(DeltaReducer.SYNC);
            List<StreamRecord<ModelChunk>> all = out == null ? List.of() : new ArrayList<>(out);
            for (; seen < all.size(); seen++) {
                byte[] whole = assembler.add(all.get(seen).getValue());
                if (whole != null) {
                    syncs.add(whole);
                }
            }
            return syncs;
        }

        /**
         * The replicas' first messages (hellos) to the reducer, which answers with a full sync
         * version; each replica reads it. Returns the sync versions sent so far.
         */
        List<byte[]> join(Reader... replicas) throws Exception {
            for (Reader r : replicas) {
                send(ModelDelta.hello(r.rt.model, r.rt.replica));
            }
            List<byte[]> sent = List.copyOf(tick());
            for (Reader r : replicas) {
                r.catchUp(sent);
            }
            return sent;
        }

        @Override
        public void close() throws Exception {
            reducer.close();
        }
    }

    private static List<List<TrainExample>> batches(int n, long seed) {
        List<TrainExample> all = TrainOperatorTest.examples(n * BATCH, seed).stream()
                .map(TrainOperatorTest::train)
                .toList();
        List<List<TrainExample>> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(all.subList(i * BATCH, (i + 1) * BATCH));
        }
        return out;
    }

    /** A replica that has read every sync version {@code g} sent, from its own cursor. */
    private static final class Reader {
        final ReplicaRuntime rt;
        int cursor;

        Reader(int replica) {
            rt = new ReplicaRuntime("m1", replica, SPEC, SEED);
        }

        void catchUp(List<byte[]> syncs) {
            rt.apply(syncs.subList(cursor, syncs.size()));
            cursor = syncs.size();
        }
    }

    /**
     * From train.parallelism 1 to N: a single trainer's savepoint holds the examples waiting for a
     * batch; the reducer restored from it trains them, so its replicas start from a model that has
     * every example, equal to the single trainer's after it trained them as a partial batch.
     */
    @Test
    void aSingleTrainersWaitingExamplesAreTrainedByTheReducerRestoredFromItsSavepoint() throws Exception {
        List<TrainExample> xs = TrainOperatorTest.examples(3 * BATCH + 5, 3).stream()
                .map(TrainOperatorTest::train)
                .toList();
        OperatorSubtaskState snapshot;
        TrainOperator single = new TrainOperator(trainSettings());
        try (var h = new KeyedOneInputStreamOperatorTestHarness<>(single, (TrainExample e) -> e.model, Types.STRING)) {
            h.setStateBackend(new EmbeddedRocksDBStateBackend());
            h.open();
            for (TrainExample e : xs) {
                h.processElement(e, 0);
            }
            h.prepareSnapshotPreBarrier(1);
            snapshot = h.snapshot(1, 1);
            assertEquals(5, single.runtimeOf("m1").order.buffered(), "five examples wait for a batch");
            // The single trainer going on: the five as a partial batch.
            h.endInput();
            try (Group g = new Group(snapshot)) {
                Reader r = new Reader(0);
                g.join(r);
                assertTrue(r.rt.ready());
                assertEquals(
                        xs.size(),
                        r.rt.model().examplesSeen(),
                        "every example is in the model the replicas start from");
                assertSameModel(single.runtimeOf("m1").model(), r.rt.model(), 2e-5);
            }
        }
    }

    @Test
    void replicasTakingTurnsWithASyncBetweenBatchesTrainTheSameModelAsOneTrainer() throws Exception {
        List<List<TrainExample>> batches = batches(24, 1);
        try (Group g = new Group()) {
            Reader a = new Reader(0);
            Reader b = new Reader(1);
            List<byte[]> syncs = g.join(a, b);
            assertEquals(1, syncs.size(), "one full sync version answers both hellos");
            Reader alone = new Reader(0);
            alone.catchUp(syncs);
            for (int i = 0; i < batches.size(); i++) {
                Reader r = i % 2 == 0 ? a : b;
                r.catchUp(g.tick());
                assertTrue(r.rt.ready());
                r.rt.train(batches.get(i));
                g.send(r.rt.delta());
                alone.rt.train(batches.get(i));
            }
            Reader check = new Reader(2);
            check.catchUp(g.tick());
            assertTrue(g.syncs.size() > batches.size(), "a sync version after each delta: " + g.syncs.size());
            assertSameModel(alone.rt.model(), check.rt.model(), 2e-5);
            assertEquals(alone.rt.model().examplesSeen(), check.rt.model().examplesSeen());
        }
    }

    @Test
    void whatTwoReplicasLearnOnTheSameVersionIsAdded() throws Exception {
        List<List<TrainExample>> batches = batches(6, 2);
        try (Group g = new Group()) {
            Reader a = new Reader(0);
            Reader b = new Reader(1);
            List<byte[]> syncs = g.join(a, b);
            // Each replica trains three batches on the first version, on its own copy.
            Reader soloA = new Reader(0);
            Reader soloB = new Reader(1);
            soloA.catchUp(syncs);
            soloB.catchUp(syncs);
            Reader start = new Reader(3);
            start.catchUp(syncs);
            for (int i = 0; i < 3; i++) {
                a.rt.train(batches.get(i));
                soloA.rt.train(batches.get(i));
                b.rt.train(batches.get(3 + i));
                soloB.rt.train(batches.get(3 + i));
            }
            g.send(a.rt.delta());
            g.send(b.rt.delta());
            Reader check = new Reader(2);
            check.catchUp(g.tick());
            // The model is the start plus both changes: start + (A - start) + (B - start).
            double[] s = values(start.rt.model(), false);
            double[] x = values(soloA.rt.model(), false);
            double[] y = values(soloB.rt.model(), false);
            double[] got = values(check.rt.model(), false);
            double maxChange = 0;
            for (int i = 0; i < s.length; i++) {
                double want = x[i] + y[i] - s[i];
                assertEquals(want, got[i], 2e-5, "value " + i);
                maxChange = Math.max(maxChange, Math.abs(got[i] - s[i]));
            }
            assertTrue(maxChange > 1e-3, "training changed the model: " + maxChange);
            assertEquals(6L * BATCH, check.rt.model().examplesSeen());
            // The dense-feature statistics are those of all six batches.
            Reader all = new Reader(4);
            all.catchUp(syncs);
            batches.forEach(all.rt::train);
            for (int i = 0; i < SPEC.features().dense().size(); i++) {
                assertEquals(
                        all.rt.model().normalizer().count(i),
                        check.rt.model().normalizer().count(i));
                assertEquals(
                        all.rt.model().normalizer().mean(i),
                        check.rt.model().normalizer().mean(i),
                        1e-5);
                assertEquals(
                        all.rt.model().normalizer().variance(i),
                        check.rt.model().normalizer().variance(i),
                        1e-5 * all.rt.model().normalizer().variance(i));
            }
            // Both replicas go on from the sum.
            a.catchUp(g.syncs);
            assertSameModel(check.rt.model(), a.rt.model(), 0);
        }
    }

    private static double[] values(MmoeModel m) {
        return values(m, true);
    }

    @Test
    void aReplicaMovingOntoAVersionKeepsWhatTheVersionDoesNotIncludeAndSendsItOnce() throws Exception {
        List<List<TrainExample>> batches = batches(3, 3);
        try (Group g = new Group()) {
            Reader a = new Reader(0);
            Reader b = new Reader(1);
            g.join(a, b);
            double[] s0 = values(a.rt.model(), false);
            // A sends a delta the reducer has not added yet, and trains on.
            a.rt.train(batches.get(0));
            ModelDelta late = a.rt.delta();
            a.rt.train(batches.get(2));
            // B's delta makes a version without A's.
            b.rt.train(batches.get(1));
            g.send(b.rt.delta());
            List<byte[]> syncs = List.copyOf(g.tick());
            Reader v1 = new Reader(2);
            v1.catchUp(syncs);
            double[] before = values(a.rt.model(), false);
            a.catchUp(syncs);
            assertEquals(1, a.rt.pending(), "the delta the version lacks is still pending");
            double[] after = values(a.rt.model(), false);
            double[] s1 = values(v1.rt.model(), false);
            for (int i = 0; i < s0.length; i++) {
                assertEquals(before[i] + s1[i] - s0[i], after[i], 2e-5, "value " + i);
            }
            // The reducer gets A's late delta, then A's next one (only what it trained since): the model
            // is A's, every example counted once.
            g.send(late);
            g.send(a.rt.delta());
            Reader check = new Reader(3);
            check.catchUp(g.tick());
            assertSameModel(a.rt.model(), check.rt.model(), 2e-5);
            assertEquals(3L * BATCH, check.rt.model().examplesSeen());
            a.catchUp(g.syncs);
            assertEquals(0, a.rt.pending());
        }
    }

    @Test
    void aReplicaAloneTrainsTheSameModelAsOneTrainerWhateverItsSynchronizationPoints() throws Exception {
        List<List<TrainExample>> batches = batches(40, 4);
        java.util.Random rnd = new java.util.Random(5);
        try (Group g = new Group()) {
            Reader a = new Reader(0);
            g.join(a);
            Reader alone = new Reader(1);
            alone.catchUp(g.syncs.subList(0, 1));
            List<ModelDelta> inFlight = new ArrayList<>();
            for (List<TrainExample> batch : batches) {
                a.rt.train(batch);
                alone.rt.train(batch);
                if (rnd.nextInt(3) == 0) {
                    inFlight.add(a.rt.delta());
                }
                if (rnd.nextInt(2) == 0 && !inFlight.isEmpty()) {
                    g.send(inFlight.remove(0));
                }
                if (rnd.nextInt(2) == 0) {
                    a.catchUp(g.tick());
                }
                assertSameModel(alone.rt.model(), a.rt.model(), 2e-5);
            }
        }
    }

    /** Every dense value, dense optimizer state, embedding row (value and state) and normalizer statistic. */
    private static double[] values(MmoeModel m, boolean normalizer) {
        List<Double> out = new ArrayList<>();
        NdAccess p = m.network().paramAccess();
        for (int i = 0; i < p.length(); i++) {
            out.add(p.get(i));
        }
        for (var slot : m.denseOptimizerState()) {
            NdAccess s = NdAccess.of(slot);
            for (int i = 0; i < s.length(); i++) {
                out.add(s.get(i));
            }
        }
        List<SparseFeature> sparse = m.spec().features().sparse();
        for (int f = 0; f < sparse.size(); f++) {
            float[] row = new float[sparse.get(f).dim() * (1 + m.embeddings().stateSlots())];
            for (int id = 0; id < sparse.get(f).buckets(); id++) {
                m.embeddings().readRow(f, id, row);
                for (float v : row) {
                    out.add((double) v);
                }
            }
        }
        for (int i = 0; normalizer && i < m.spec().features().dense().size(); i++) {
            out.add(m.normalizer().mean(i));
            out.add(m.normalizer().variance(i));
        }
        return out.stream().mapToDouble(Double::doubleValue).toArray();
    }

    private static void assertSameModel(MmoeModel want, MmoeModel got, double tolerance) {
        double[] w = values(want);
        double[] v = values(got);
        assertEquals(w.length, v.length);
        for (int i = 0; i < w.length; i++) {
            assertEquals(w[i], v[i], tolerance + 1e-5 * Math.abs(w[i]), "value " + i + " of " + w.length);
        }
    }
}
