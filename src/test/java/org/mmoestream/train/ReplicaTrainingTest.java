package org.mmoestream.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;
import org.mmoestream.feature.DenseFeature;
import org.mmoestream.feature.DenseTransform;
import org.mmoestream.feature.FeatureSpec;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.model.Batch;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.NdAccess;
import org.mmoestream.model.Variant;
import org.mmoestream.model.codec.SpecJson;
import org.mmoestream.model.optim.OptimizerConfig;
import org.mmoestream.publish.ChunkAssembler;
import org.mmoestream.publish.ModelChunk;
import org.mmoestream.testing.TestSpecs;

/**
 * Replicas and the reducer ({@link ReplicaRuntime}, {@link GradientReducer} in a keyed harness on
 * RocksDB): rounds of shares train what one trainer trains on the union of each round's shares, a
 * share that comes late joins the next round, and a checkpoint holds every share sent before it.
 */
class ReplicaTrainingTest {
    private static final int BATCH = 8;
    private static final long SEED = 7;
    private static final long SYNC_INTERVAL = 100;
    private static final ModelSpec SPEC = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
    /**
     * For comparing rounds with one trainer on their union: SGD, and no standardized dense feature.
     * A share is standardized with the model's statistics and its own values, not with the other
     * shares' of its round; and with Adagrad's accumulator starting at 0 a first step is about the
     * learning rate times the gradient's sign, so the last-bit differences of summing a gradient
     * in shares can flip a step.
     */
    private static final ModelSpec LINEAR_SPEC = new ModelSpec(
            "test",
            new FeatureSpec(
                    SPEC.features().sparse(),
                    List.of(
                            new DenseFeature("price", "price", DenseTransform.LOG1P),
                            new DenseFeature("age", "age", DenseTransform.LOG1P))),
            SPEC.tasks(),
            SPEC.architecture(),
            OptimizerConfig.defaults(OptimizerConfig.Kind.SGD),
            SPEC.csv());

    private static TrainOperator.Settings trainSettings() {
        return trainSettings(SPEC);
    }

    private static TrainOperator.Settings trainSettings(ModelSpec spec) {
        return TrainOperator.Settings.of(SpecJson.write(spec))
                .withBatchSize(BATCH)
                .withSeed(SEED)
                .withPublishInterval(60_000)
                .withMaxMessageBytes(4096);
    }

    /** The reducer, the replicas and the sync versions between them. */
    private static final class Group implements AutoCloseable {
        final KeyedOneInputStreamOperatorTestHarness<String, ReplicaGradient, ModelChunk> reducer;
        final ChunkAssembler assembler = new ChunkAssembler();
        final List<byte[]> syncs = new ArrayList<>();
        int seen;
        long now;

        Group() throws Exception {
            this(SPEC, null);
        }

        /**
         * A reducer of a model of {@code spec}, restored from {@code restore} (a snapshot of the
         * trainer's state) when not null.
         */
        Group(ModelSpec spec, OperatorSubtaskState restore) throws Exception {
            this(trainSettings(spec), restore);
        }

        Group(TrainOperator.Settings settings, OperatorSubtaskState restore) throws Exception {
            this(settings, restore, 0);
        }

        /** With the reducer's longer wait for the replicas during the model's first {@code warmupSteps} steps. */
        Group(TrainOperator.Settings settings, OperatorSubtaskState restore, long warmupSteps) throws Exception {
            reducer = new KeyedOneInputStreamOperatorTestHarness<>(
                    new GradientReducer(settings, SYNC_INTERVAL, warmupSteps), g -> g.model, Types.STRING);
            reducer.setStateBackend(new EmbeddedRocksDBStateBackend());
            if (restore != null) {
                reducer.initializeState(restore);
            }
            reducer.open();
            reducer.setProcessingTime(now);
        }

        void send(ReplicaGradient g) throws Exception {
            reducer.processElement(g, 0);
        }

        /** Lets {@code millis} pass on the reducer's clock; returns the sync versions it sent so far. */
        List<byte[]> tick(long millis) throws Exception {
            now += millis;
            reducer.setProcessingTime(now);
            var out = reducer.getSideOutput(GradientReducer.SYNC);
            List<StreamRecord<ModelChunk>> all = out == null ? List.of() : new ArrayList<>(out);
            for (; seen < all.size(); seen++) {
                byte[] whole = assembler.add(all.get(seen).getValue());
                if (whole != null) {
                    syncs.add(whole);
                }
            }
            return syncs;
        }

        List<byte[]> tick() throws Exception {
            return tick(1);
        }

        /**
         * The replicas' first messages (hellos) to the reducer, which answers each with a full sync
         * version; each replica reads them.
         */
        void join(Reader... replicas) throws Exception {
            for (Reader r : replicas) {
                send(ReplicaGradient.hello(r.rt.model, r.rt.replica));
            }
            List<byte[]> sent = List.copyOf(tick());
            for (Reader r : replicas) {
                r.catchUp(sent);
            }
        }

        @Override
        public void close() throws Exception {
            reducer.close();
        }
    }

    private static List<TrainExample> examples(int n, long seed) {
        return TrainOperatorTest.examples(n, seed).stream()
                .map(TrainOperatorTest::train)
                .toList();
    }

    /** A replica that has read every sync version {@code g} sent, from its own cursor. */
    private static final class Reader {
        final ReplicaRuntime rt;
        int cursor;

        final ModelSpec spec;

        Reader(int replica) {
            this(SPEC, replica);
        }

        Reader(ModelSpec spec, int replica) {
            this.spec = spec;
            rt = new ReplicaRuntime("m1", replica, spec, SEED);
        }

        void catchUp(List<byte[]> syncs) {
            rt.apply(syncs.subList(cursor, syncs.size()));
            cursor = syncs.size();
        }

        /** Trains the model itself, as one trainer does (a reference to compare with). */
        void trainAlone(List<TrainExample> batch) {
            Batch.Builder builder = new Batch.Builder(
                    spec.features().sparse().size(),
                    spec.features().dense().size(),
                    spec.tasks().size());
            rt.model().trainStep(LabeledTimes.build(builder, batch, new LabeledTimes()));
        }
    }

    /**
     * From train.parallelism 1 to N: a single trainer's savepoint holds the examples waiting for a
     * batch; the reducer restored from it trains them, so its replicas start from a model that has
     * every example, equal to the single trainer's after it trained them as a partial batch.
     */
    @Test
    void aSingleTrainersWaitingExamplesAreTrainedByTheReducerRestoredFromItsSavepoint() throws Exception {
        List<TrainExample> xs = examples(3 * BATCH + 5, 3);
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
            try (Group g = new Group(SPEC, snapshot)) {
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

    /**
     * Rounds: each of three replicas computes the gradient of its share on the version of the
     * round; the reducer's step on their average (weighted by examples) is one trainer's step on
     * their union. The reducer serves the average one trainer serves, also when it is sized in
     * event time ({@code serving_average_hours}: it moves with the newest impression of the round).
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void roundsOfSharesTrainTheSameModelAsOneTrainerOnTheirUnion(boolean averagedInEventTime) throws Exception {
        int shares = 3;
        List<TrainExample> xs = examples(12 * shares * BATCH, 1);
        // The examples are 1 ms apart: a round of 18 moves the average 1 - exp(-18 / 40) of the way.
        ModelSpec spec = averagedInEventTime
                ? LINEAR_SPEC.withOptimizer(LINEAR_SPEC.optimizer().withServingAverageHours(40.0 / 3_600_000))
                : LINEAR_SPEC;
        try (Group g = new Group(spec, null)) {
            List<Reader> replicas = new ArrayList<>();
            for (int i = 0; i < shares; i++) {
                replicas.add(new Reader(spec, i));
            }
            g.join(replicas.toArray(Reader[]::new));
            Reader alone = new Reader(spec, 9);
            alone.catchUp(g.syncs.subList(0, 1));
            // The average one trainer serves, by hand: from the first version's values, each round
            // 1 - exp(-dt / span) of the way to the values before its step (the first sets the clock).
            double[] expected =
                    TrainOperatorTest.values(alone.rt.model().network().paramAccess());
            long clock = Long.MIN_VALUE;
            int size = (2 * BATCH + shares - 1) / shares;
            for (int round = 0, at = 0; round < 12; round++) {
                List<TrainExample> union = new ArrayList<>();
                for (Reader r : replicas) {
                    // Shares of 4, 6 and 8 examples: the average is weighted by examples.
                    int n = size + 2 * (r.rt.replica - 1);
                    List<TrainExample> share = xs.subList(at, at + n);
                    at += n;
                    union.addAll(share);
                    assertEquals(g.syncs.size() - 1, round + shares - 1, "the round waits for every share");
                    g.send(r.rt.gradient(share));
                }
                long newest = union.get(union.size() - 1).impressionTs;
                if (clock != Long.MIN_VALUE) {
                    double f = -Math.expm1(-(newest - clock) / 40.0);
                    double[] before =
                            TrainOperatorTest.values(alone.rt.model().network().paramAccess());
                    for (int i = 0; i < expected.length; i++) {
                        expected[i] += f * (before[i] - expected[i]);
                    }
                }
                clock = newest;
                alone.trainAlone(union);
                g.tick();
                replicas.forEach(r -> r.catchUp(g.syncs));
            }
            MmoeModel reduced =
                    ((GradientReducer) g.reducer.getOperator()).runtimeOf("m1").model();
            assertEquals(averagedInEventTime, reduced.servingAverage() != null);
            if (averagedInEventTime) {
                double[] served = TrainOperatorTest.values(reduced.servedParams());
                assertArrayEquals(expected, served, 2e-5);
                double[] trained = TrainOperatorTest.values(reduced.network().paramAccess());
                double lag = 0;
                for (int i = 0; i < served.length; i++) {
                    lag = Math.max(lag, Math.abs(served[i] - trained[i]));
                }
                assertTrue(lag > 1e-3, "the average lags the trained values: " + lag);
            }
            Reader check = new Reader(LINEAR_SPEC, 5);
            check.catchUp(g.syncs.subList(0, 1));
            check.catchUp(g.syncs);
            assertEquals(
                    alone.rt.model().examplesSeen(), replicas.get(0).rt.model().examplesSeen());
            assertEquals(12L * shares * size, replicas.get(0).rt.model().examplesSeen());
            assertSameModel(alone.rt.model(), replicas.get(0).rt.model(), 2e-5);
            assertSameModel(replicas.get(0).rt.model(), replicas.get(2).rt.model(), 0);
            assertSameModel(replicas.get(0).rt.model(), check.rt.model(), 0);
        }
    }

    /** A replica's share computed on two threads (train.threads) is the share computed on one. */
    @Test
    void aShareOnTwoThreadsIsTheShareOnOne() throws Exception {
        List<TrainExample> share = examples(64, 7);
        try (Group g = new Group()) {
            Reader one = new Reader(0);
            Reader two = new Reader(1);
            g.join(one, two);
            two.rt.model().useThreads(2);
            try {
                ReplicaGradient a = one.rt.gradient(share);
                ReplicaGradient b = two.rt.gradient(share);
                float[] da = new float[a.dense.length / 4];
                float[] db = new float[b.dense.length / 4];
                ReplicaGradient.floatsOf(a.dense, da);
                ReplicaGradient.floatsOf(b.dense, db);
                assertArrayEquals(da, db, 1e-6f);
                assertArrayEquals(a.rowKeys, b.rowKeys);
                assertArrayEquals(a.rows, b.rows, 1e-6f);
                for (int h = 0; h < a.predictions.length; h++) {
                    assertArrayEquals(a.predictions[h], b.predictions[h], 1e-6f);
                }
                assertArrayEquals(a.gateSums, b.gateSums, 1e-4);
                assertEquals(a.examples, b.examples);
            } finally {
                two.rt.model().close();
            }
        }
    }

    @org.junit.jupiter.api.io.TempDir
    java.nio.file.Path dir;

    /**
     * As the single trainer: a model that starts from {@code train.init-from} is published as it
     * came (version 1, full) before any round, and every version carries the probes' scores.
     */
    @Test
    void aWarmStartIsPublishedAsVersionOneBeforeAnyRoundWithTheProbes() throws Exception {
        java.nio.file.Path file = dir.resolve("offline.safetensors");
        MmoeModel offline = TrainOperatorTest.offline(SPEC, file, 6 * BATCH);
        List<org.mmoestream.event.LabeledExample> probes = TrainOperatorTest.examples(3, 7);
        TrainOperator.Settings settings = trainSettings(SPEC)
                .withInitFrom(file.toString())
                .withProbes(probes.stream().map(e -> e.features).toList());
        try (Group g = new Group(settings, null)) {
            Reader a = new Reader(0);
            Reader b = new Reader(1);
            g.join(a, b);
            List<TrainExample> xs = examples(2 * BATCH, 30);
            g.send(a.rt.gradient(xs.subList(0, BATCH)));
            g.send(b.rt.gradient(xs.subList(BATCH, 2 * BATCH)));
            g.tick();
            g.reducer.endInput();
            List<ModelChunk> out = g.reducer.extractOutputValues();
            org.mmoestream.model.codec.SnapshotState v1 = new org.mmoestream.model.codec.SnapshotState();
            assertTrue(v1.apply(TrainOperatorTest.assemble(out, 1)), "version 1 is a full snapshot");
            assertEquals(6 * BATCH, v1.examplesSeen(), "version 1 is the snapshot, before the round");
            var encoded = TrainOperatorTest.encode(probes);
            double[][] want = offline.predict(Batch.of(encoded));
            double[][] got = v1.model().predict(Batch.of(encoded));
            for (int h = 0; h < want.length; h++) {
                org.junit.jupiter.api.Assertions.assertArrayEquals(want[h], got[h], 1e-5);
            }
            assertTrue(
                    v1.metadata().get("metrics").contains("probe_scores"),
                    v1.metadata().get("metrics"));
            org.mmoestream.model.codec.SnapshotState v2 = new org.mmoestream.model.codec.SnapshotState();
            assertTrue(v2.apply(TrainOperatorTest.assemble(out, 1)) && v2.apply(TrainOperatorTest.assemble(out, 2)));
            assertEquals(8 * BATCH, v2.examplesSeen(), "version 2 has the round");
            assertTrue(
                    v2.metadata().get("metrics").contains("probe_scores"),
                    v2.metadata().get("metrics"));
        }
    }

    /**
     * As the single trainer (TrainOperatorTest's atTheEndOfTheInputEveryImpressionAnEarlyModeHoldsIsMeasured):
     * at the end of the input every impression a replica still holds for the progressive metrics is
     * measured, in a pass that trains nothing, and the reducer publishes a last version that counts
     * them all, though nothing was trained since the one before.
     */
    @Test
    void atTheEndOfTheInputEveryImpressionAReplicaHoldsIsMeasured() throws Exception {
        try (Group g = new Group()) {
            Reader a = new Reader(0);
            Reader b = new Reader(1);
            a.rt.withOutcomes(100, 1_000);
            b.rt.withOutcomes(100, 1_000);
            g.join(a, b);
            ExampleEncoder enc = new ExampleEncoder(SPEC);
            List<TrainExample> xs = new ArrayList<>();
            for (org.mmoestream.event.LabeledExample e : TrainOperatorTest.examples(2 * BATCH, 60)) {
                e.kind = org.mmoestream.event.LabeledExample.Kind.OBSERVED;
                xs.add(EncodeExamples.encode(enc, e));
            }
            ReplicaGradient first = a.rt.gradient(xs.subList(0, BATCH));
            assertEquals(0, first.predictions[0].length, "no window has closed: nothing is measured yet");
            g.send(first);
            g.send(b.rt.gradient(xs.subList(BATCH, 2 * BATCH)));
            g.tick();
            // The round is published (the publish interval passes) before the passes come.
            List<byte[]> syncs = g.tick(60_000);
            assertEquals(
                    1,
                    g.reducer.extractOutputValues().stream()
                            .mapToLong(c -> c.version)
                            .max()
                            .orElse(0),
                    "the round published as version 1");
            a.catchUp(syncs);
            b.catchUp(syncs);
            assertTrue(a.rt.outcomesPending() && b.rt.outcomesPending());
            ReplicaGradient pass = a.rt.measureRemaining();
            assertEquals(0, pass.examples);
            assertEquals(BATCH, pass.predictions[0].length);
            assertFalse(a.rt.outcomesPending());
            g.send(pass);
            g.send(b.rt.measureRemaining());
            g.tick();
            g.reducer.endInput();
            List<ModelChunk> out = g.reducer.extractOutputValues();
            long last = out.stream().mapToLong(c -> c.version).max().orElseThrow();
            assertEquals(2, last, "a version for the measurements");
            org.mmoestream.model.codec.SnapshotState s = new org.mmoestream.model.codec.SnapshotState();
            for (long v = 1; v <= last; v++) {
                assertTrue(s.apply(TrainOperatorTest.assemble(out, v)), "version " + v + " follows");
            }
            assertEquals(2 * BATCH, s.examplesSeen(), "the passes train nothing");
            com.fasterxml.jackson.databind.JsonNode metrics = new com.fasterxml.jackson.databind.ObjectMapper()
                    .readTree(s.metadata().get("metrics"));
            assertEquals(2 * BATCH, metrics.path("ctr").path("n").asInt(), metrics.toString());
        }
    }

    /**
     * The in-process rounds of {@code bench rounds}: N replicas equal one trainer, to float rounding,
     * the last round's 5 examples included (a step scaled by 5/12 in both).
     */
    @Test
    void synchronousRoundsInOneProcessEqualOneTrainer() {
        var xs = TestSpecs.examples(LINEAR_SPEC, 20 * 12 + 5, 6);
        MmoeModel one = SynchronousRounds.train(LINEAR_SPEC, SEED, xs, 12, 1);
        MmoeModel three = SynchronousRounds.train(LINEAR_SPEC, SEED, xs, 12, 3);
        assertEquals(xs.size(), three.examplesSeen());
        assertSameModel(one, three, 2e-5);
    }

    /**
     * A replica that does not send its share closes no round: after {@code train.sync-interval} the
     * round closes without it, and its share on the older version joins the next round, counted
     * once; the round after waits for it again.
     */
    @Test
    void aLateShareJoinsTheNextRoundAndIsCountedOnce() throws Exception {
        List<TrainExample> xs = examples(5 * BATCH, 2);
        SyncTraffic.resetShares();
        try (Group g = new Group()) {
            Reader a = new Reader(0);
            Reader b = new Reader(1);
            g.join(a, b);
            int versions = g.syncs.size();
            g.send(a.rt.gradient(xs.subList(0, BATCH)));
            assertEquals(versions, g.tick(SYNC_INTERVAL - 2).size(), "the round waits for B");
            assertEquals(versions + 1, g.tick(2).size(), "and closes without it after the sync interval");
            ReplicaGradient late = b.rt.gradient(xs.subList(BATCH, 2 * BATCH));
            a.catchUp(g.syncs);
            b.catchUp(g.syncs);
            g.send(late);
            assertEquals(1, SyncTraffic.STALE_SHARES.sum());
            assertEquals(BATCH, SyncTraffic.FIRST_STALE_AT.get(), "it came after the first round's examples");
            g.send(a.rt.gradient(xs.subList(2 * BATCH, 3 * BATCH)));
            assertEquals(versions + 2, g.tick().size(), "the next round waits for A alone, and takes B's late share");
            a.catchUp(g.syncs);
            b.catchUp(g.syncs);
            assertEquals(3L * BATCH, a.rt.model().examplesSeen());
            // B had a share in the last round: the next one waits for it again.
            g.send(a.rt.gradient(xs.subList(3 * BATCH, 4 * BATCH)));
            assertEquals(versions + 2, g.tick().size());
            g.send(b.rt.gradient(xs.subList(4 * BATCH, 5 * BATCH)));
            assertEquals(versions + 3, g.tick().size());
            b.catchUp(g.syncs);
            assertEquals(5L * BATCH, b.rt.model().examplesSeen());
        }
    }

    /**
     * In the model's first steps a round waits ten sync intervals for a late replica, so that its
     * share is not pushed onto a model that has already moved; after them, one.
     */
    @Test
    void aRoundInTheModelsFirstStepsWaitsTenSyncIntervals() throws Exception {
        List<TrainExample> xs = examples(4 * BATCH, 3);
        SyncTraffic.resetShares();
        try (Group g = new Group(trainSettings(), null, 1)) {
            Reader a = new Reader(0);
            Reader b = new Reader(1);
            g.join(a, b);
            int versions = g.syncs.size();
            g.send(a.rt.gradient(xs.subList(0, BATCH)));
            assertEquals(versions, g.tick(10 * SYNC_INTERVAL - 2).size(), "the first round waits for B");
            g.send(b.rt.gradient(xs.subList(BATCH, 2 * BATCH)));
            assertEquals(versions + 1, g.tick().size(), "and closes with it");
            assertEquals(0, SyncTraffic.STALE_SHARES.sum());
            a.catchUp(g.syncs);
            b.catchUp(g.syncs);
            g.send(a.rt.gradient(xs.subList(2 * BATCH, 3 * BATCH)));
            assertEquals(versions + 1, g.tick(SYNC_INTERVAL - 2).size(), "after the first step a round waits");
            assertEquals(versions + 2, g.tick(2).size(), "one sync interval");
        }
    }

    /**
     * A round in progress closes before the barrier, so the checkpoint holds every share sent
     * before it: a single trainer restored from it has every example.
     */
    @Test
    void theCheckpointHoldsEveryShareSentBeforeTheBarrier() throws Exception {
        List<TrainExample> xs = examples(3 * BATCH, 4);
        OperatorSubtaskState snapshot;
        Reader a = new Reader(0);
        Reader b = new Reader(1);
        try (Group g = new Group()) {
            g.join(a, b);
            g.send(a.rt.gradient(xs.subList(0, BATCH)));
            g.send(b.rt.gradient(xs.subList(BATCH, 2 * BATCH)));
            g.tick();
            a.catchUp(g.syncs);
            g.send(a.rt.gradient(xs.subList(2 * BATCH, 3 * BATCH)));
            g.reducer.prepareSnapshotPreBarrier(1);
            snapshot = g.reducer.snapshot(1, 1);
            a.catchUp(g.tick());
        }
        assertEquals(3L * BATCH, a.rt.model().examplesSeen());
        TrainOperator single = new TrainOperator(trainSettings());
        try (var h = new KeyedOneInputStreamOperatorTestHarness<>(single, (TrainExample e) -> e.model, Types.STRING)) {
            h.setStateBackend(new EmbeddedRocksDBStateBackend());
            h.initializeState(snapshot);
            h.open();
            h.processElement(examples(1, 5).get(0), 0);
            assertEquals(3L * BATCH, single.runtimeOf("m1").model().examplesSeen());
            assertSameModel(a.rt.model(), single.runtimeOf("m1").model(), 0);
        }
    }

    /**
     * {@code train.gradient-density} below 1: each replica sends the largest entries of its dense
     * gradient, the reducer steps on those alone (SGD: each moves by the learning rate times the
     * shares' values, weighted by their examples; no other dense value moves), and a version
     * carries the dense values the round changed, so a replica that followed every version holds the
     * model the reducer sends in full to a new one.
     */
    @Test
    void sparseSharesStepOnTheEntriesSentAndVersionsCarryWhatChanged() throws Exception {
        double density = 0.05;
        int rounds = 10;
        int half = BATCH / 2;
        List<TrainExample> xs = examples(rounds * BATCH, 8);
        try (Group g = new Group(trainSettings(LINEAR_SPEC).withGradientDensity(density), null)) {
            Reader a = new Reader(LINEAR_SPEC, 0);
            Reader b = new Reader(LINEAR_SPEC, 1);
            a.rt.withGradientDensity(density);
            b.rt.withGradientDensity(density);
            g.join(a, b);
            Reader late = null;
            NdAccess params = a.rt.model().network().paramAccess();
            int n = params.length();
            double lr = LINEAR_SPEC.optimizer().learningRate();
            long trained = 0;
            for (int round = 0; round < rounds; round++) {
                if (round == rounds / 2) {
                    // A replica starts in the middle of the stream: the reducer answers with a full
                    // version, and the deltas after it carry what changed since that one.
                    g.send(ReplicaGradient.hello("m1", 2));
                    List<byte[]> syncs = g.tick();
                    late = new Reader(LINEAR_SPEC, 2);
                    late.rt.apply(List.of(syncs.get(syncs.size() - 1)));
                    late.cursor = syncs.size();
                }
                float[] before = new float[n];
                params.readFloats(0, before, 0, n);
                // A round of fewer examples than the batch (the second share one short) every third round.
                List<ReplicaGradient> shares = List.of(
                        a.rt.gradient(xs.subList(round * BATCH, round * BATCH + half)),
                        b.rt.gradient(
                                xs.subList(round * BATCH + half, (round + 1) * BATCH - (round % 3 == 2 ? 1 : 0))));
                int total = shares.get(0).examples + shares.get(1).examples;
                trained += total;
                double[] want = new double[n];
                for (int i = 0; i < n; i++) {
                    want[i] = before[i];
                }
                boolean[] sent = new boolean[n];
                for (ReplicaGradient share : shares) {
                    assertTrue(share.sparse && share.denseIds.length < 0.2 * n, share.denseIds.length + " of " + n);
                    float[] values = new float[share.denseIds.length];
                    ReplicaGradient.floatsOf(share.dense, values);
                    for (int k = 0; k < values.length; k++) {
                        // In sum units over the batch, also when the round is smaller.
                        want[share.denseIds[k]] -= lr * ((double) share.examples / BATCH) * values[k];
                        sent[share.denseIds[k]] = true;
                    }
                    g.send(share);
                }
                // The round that follows the late replica's start waits for it until the sync interval.
                g.tick(round == rounds / 2 ? SYNC_INTERVAL : 1);
                byte[] delta = g.syncs.get(g.syncs.size() - 1);
                var ids = org.mmoestream.model.codec.Safetensors.readHeader(delta)
                        .entries()
                        .get("dense.ids");
                assertTrue(ids != null && ids.elements() < n / 3, "the delta carries the dense values that changed");
                a.catchUp(g.syncs);
                b.catchUp(g.syncs);
                for (int i = 0; i < n; i++) {
                    if (sent[i]) {
                        assertEquals(want[i], params.get(i), 1e-6 + 1e-6 * Math.abs(want[i]), "parameter " + i);
                    } else {
                        assertEquals(before[i], (float) params.get(i), "parameter " + i + " had no entry sent");
                    }
                }
            }
            // What each replica held back goes in a pass, summed over examples, divided by the batch size.
            g.tick(60_000);
            int published = g.reducer.getOutput().size();
            assertTrue(published > 0, "the publish interval passed: a version");
            float[] before = new float[n];
            params.readFloats(0, before, 0, n);
            float[] back = new float[n];
            float[] sum = new float[n];
            for (Reader r : List.of(a, b)) {
                assertTrue(r.rt.holdsBack());
                ReplicaGradient pass = r.rt.sendHeldBack();
                assertTrue(pass.heldBack && pass.examples == 0 && !r.rt.holdsBack());
                ReplicaGradient.floatsOf(pass.dense, back);
                for (int i = 0; i < n; i++) {
                    sum[i] += back[i];
                }
                g.send(pass);
            }
            g.tick();
            a.catchUp(g.syncs);
            b.catchUp(g.syncs);
            late.catchUp(g.syncs);
            for (int i = 0; i < n; i++) {
                double want = before[i] - lr * sum[i] / BATCH;
                assertEquals(want, params.get(i), 1e-6 + 1e-6 * Math.abs(want), "parameter " + i);
            }
            // A step on no examples is a change all the same: a version carries it before the next barrier.
            g.reducer.prepareSnapshotPreBarrier(2);
            assertTrue(g.reducer.getOutput().size() > published, "a version after the passes' step");
            g.send(ReplicaGradient.hello("m1", 3));
            List<byte[]> syncs = g.tick();
            Reader fresh = new Reader(LINEAR_SPEC, 3);
            fresh.rt.apply(List.of(syncs.get(syncs.size() - 1)));
            assertEquals(trained, fresh.rt.model().examplesSeen());
            assertSameModel(fresh.rt.model(), a.rt.model(), 0);
            assertSameModel(fresh.rt.model(), b.rt.model(), 0);
            assertSameModel(fresh.rt.model(), late.rt.model(), 0);
        }
    }

    /** Every dense value, embedding row value and normalizer statistic (no optimizer state: replicas keep none). */
    private static double[] values(MmoeModel m) {
        List<Double> out = new ArrayList<>();
        NdAccess p = m.network().paramAccess();
        for (int i = 0; i < p.length(); i++) {
            out.add(p.get(i));
        }
        List<SparseFeature> sparse = m.spec().features().sparse();
        for (int f = 0; f < sparse.size(); f++) {
            int dim = sparse.get(f).dim();
            float[] row = new float[dim * (1 + m.embeddings().stateSlots())];
            for (int id = 0; id < sparse.get(f).buckets(); id++) {
                m.embeddings().readRow(f, id, row);
                for (int k = 0; k < dim; k++) {
                    out.add((double) row[k]);
                }
            }
        }
        for (int i = 0; i < m.spec().features().dense().size(); i++) {
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
