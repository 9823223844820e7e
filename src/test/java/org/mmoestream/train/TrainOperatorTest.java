package org.mmoestream.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;
import org.mmoestream.event.LabeledExample;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.Batch;
import org.mmoestream.model.Embeddings;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.NdAccess;
import org.mmoestream.model.ParamLayout;
import org.mmoestream.model.Variant;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.model.codec.SpecJson;
import org.mmoestream.publish.ModelChunk;
import org.mmoestream.testing.TestSpecs;
import org.nd4j.linalg.api.buffer.DataType;

/** The training operator in a keyed harness on the RocksDB backend. */
class TrainOperatorTest {
    private static final int BATCH = 8;
    private static final ModelSpec SPEC = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());

    private static TrainOperator.Settings settings(long publishMillis) {
        return TrainOperator.Settings.of(SpecJson.write(SPEC))
                .withBatchSize(BATCH)
                .withMaxWait(60_000)
                .withPublishInterval(publishMillis)
                .withFullEvery(3)
                .withMaxMessageBytes(700)
                .withMetricsWindow(1000);
    }

    /** The example as the trainer receives it, encoded. */
    static TrainExample train(LabeledExample e) {
        return train(e, SPEC);
    }

    static TrainExample train(LabeledExample e, ModelSpec spec) {
        return TrainExample.of(
                e.requestId,
                e.model,
                e.impressionTs,
                e.labeledAt,
                new ExampleEncoder(spec).encode(e.features, e.click, e.conversion));
    }

    private static KeyedOneInputStreamOperatorTestHarness<String, TrainExample, ModelChunk> harness(TrainOperator op)
            throws Exception {
        var h = new KeyedOneInputStreamOperatorTestHarness<>(op, e -> e.model, Types.STRING);
        h.setStateBackend(new EmbeddedRocksDBStateBackend());
        return h;
    }

    static List<LabeledExample> examples(int n, long seed) {
        Random rnd = new Random(seed);
        List<LabeledExample> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            LabeledExample e = new LabeledExample();
            e.requestId = "r" + seed + "-" + i;
            e.model = "m1";
            int user = rnd.nextInt(20);
            e.features = "{\"user\":\"u" + user + "\",\"item\":\"i" + rnd.nextInt(9) + "\",\"tags\":[\"t"
                    + rnd.nextInt(4) + "\",\"t" + rnd.nextInt(4) + "\"],\"price\":" + rnd.nextInt(100) + ",\"age\":"
                    + (20 + rnd.nextInt(50)) + "}";
            e.click = user % 3 == 0 || rnd.nextDouble() < 0.2 ? 1 : 0;
            e.conversion = e.click == 1 && rnd.nextDouble() < 0.4 ? 1 : 0;
            e.impressionTs = 1_700_000_000_000L + i;
            out.add(e);
        }
        return out;
    }

    static List<EncodedExample> encode(List<LabeledExample> xs) {
        ExampleEncoder enc = new ExampleEncoder(SPEC);
        return xs.stream()
                .map(e -> enc.encode(e.features, e.click, e.conversion))
                .toList();
    }

    static double[] values(NdAccess a) {
        double[] v = new double[a.length()];
        a.read(0, v, 0, v.length);
        return v;
    }

    /** On {@code threads} threads (train.threads) at batch {@code batch}, five batches. */
    @org.junit.jupiter.params.ParameterizedTest(name = "batch {0} on {1} threads")
    @org.junit.jupiter.params.provider.CsvSource({"8, 1", "64, 2"})
    void operatorAndOfflineStepGiveTheSameParameters(int batch, int threads) throws Exception {
        List<LabeledExample> xs = examples(5 * batch, 1);
        TrainOperator op =
                new TrainOperator(settings(60_000).withBatchSize(batch).withThreads(threads));
        MmoeModel streamed;
        try (var h = harness(op)) {
            h.open();
            for (LabeledExample e : xs) {
                h.processElement(train(e), 0);
            }
            MmoeModel offline = MmoeModel.create(SPEC, 42, DataType.FLOAT);
            List<EncodedExample> enc = encode(xs);
            for (int i = 0; i < enc.size(); i += batch) {
                offline.trainStep(Batch.of(enc.subList(i, i + batch)));
            }
            streamed = op.runtimeOf("m1").model();
            assertEquals(threads, streamed.threads());
            assertEquals(5, streamed.step());
            assertArrayEquals(
                    values(offline.network().paramAccess()),
                    values(streamed.network().paramAccess()),
                    1e-5);
            assertEquals(5 * batch, op.examplesTrained());
            // Embedding rows: the operator's scores, which read its rows, equal the offline model's.
            List<EncodedExample> probe = encode(examples(30, 2));
            double[][] a = offline.predict(Batch.of(probe));
            double[][] b = op.score("m1", probe);
            for (int head = 0; head < a.length; head++) {
                assertArrayEquals(a[head], b[head], 1e-5);
            }
        }
        // Closing the operator stops the step's threads.
        assertEquals(1, streamed.threads());
    }

    @Test
    void eventTimeOrderTrainsInImpressionOrderWhateverTheArrivalOrderAndAcrossARestore() throws Exception {
        long horizon = 100;
        List<LabeledExample> xs = examples(5 * BATCH + 3, 3);
        // Arrival order: examples come up to 20 positions late, as labels become final out of order.
        Random rnd = new Random(5);
        List<LabeledExample> arrival = new ArrayList<>(xs);
        for (int i = 0; i < arrival.size(); i++) {
            java.util.Collections.swap(arrival, i, Math.min(arrival.size() - 1, i + rnd.nextInt(20)));
        }
        var s = settings(60_000).withMaxWait(1).withOrderHorizon(horizon);
        TrainOperator op = new TrainOperator(s);
        var h = harness(op);
        h.open();
        long watermark = Long.MIN_VALUE;
        OperatorSubtaskState snapshot = null;
        int i = 0;
        for (; i < arrival.size() / 2; i++) {
            watermark = feed(h, arrival, i, horizon, watermark);
            h.setProcessingTime(h.getProcessingTime() + 10); // a processing-time max-wait must not cut batches
        }
        assertTrue(op.runtimeOf("m1").order.heldCount() > 0, "some examples are held");
        h.prepareSnapshotPreBarrier(1);
        snapshot = h.snapshot(1, 1);
        h.close();
        op = new TrainOperator(s);
        h = harness(op);
        h.initializeState(snapshot);
        h.open();
        for (; i < arrival.size(); i++) {
            watermark = feed(h, arrival, i, horizon, watermark);
        }
        h.processWatermark(Long.MAX_VALUE);
        h.endInput();

        MmoeModel offline = MmoeModel.create(SPEC, 42, DataType.FLOAT);
        // The last batch, of 3 examples, takes 3/8 of a step, as the trainer's does.
        offline.scalePartialBatches(BATCH);
        List<EncodedExample> enc = encode(xs);
        for (int j = 0; j < enc.size(); j += BATCH) {
            offline.trainStep(Batch.of(enc.subList(j, Math.min(enc.size(), j + BATCH))));
        }
        MmoeModel streamed = op.runtimeOf("m1").model();
        assertEquals(6, streamed.step());
        assertArrayEquals(
                values(offline.network().paramAccess()),
                values(streamed.network().paramAccess()),
                1e-5);
        List<EncodedExample> probe = encode(examples(30, 4));
        double[][] a = offline.predict(Batch.of(probe));
        double[][] b = op.score("m1", probe);
        for (int head = 0; head < a.length; head++) {
            assertArrayEquals(a[head], b[head], 1e-5);
        }
        h.close();
    }

    /**
     * Delivers arrival {@code i}, then the watermark the join would send: every example whose release
     * time (impression + horizon) is below it has arrived.
     */
    private static long feed(
            KeyedOneInputStreamOperatorTestHarness<String, TrainExample, ModelChunk> h,
            List<LabeledExample> arrival,
            int i,
            long horizon,
            long watermark)
            throws Exception {
        h.processElement(train(arrival.get(i)), arrival.get(i).impressionTs);
        long earliestMissing = Long.MAX_VALUE;
        for (int j = i + 1; j < arrival.size(); j++) {
            earliestMissing = Math.min(earliestMissing, arrival.get(j).impressionTs);
        }
        long w = earliestMissing == Long.MAX_VALUE ? watermark : earliestMissing + horizon - 1;
        if (w > watermark) {
            h.processWatermark(w);
            return w;
        }
        return watermark;
    }

    @Test
    void scoresBatchesWithMoreDistinctIdsThanTheWorkingTablesHold() throws Exception {
        // A user table of 5,000 buckets and a budget of 100 rows: users get a working set of 64 slots
        // (8 per example of a batch), which 300 distinct users overflow.
        var f = SPEC.features();
        var users = new org.mmoestream.feature.SparseFeature("user", "user", 5_000, 3, false, null);
        ModelSpec wideSpec = new ModelSpec(
                "wide",
                new org.mmoestream.feature.FeatureSpec(
                        List.of(users, f.sparse().get(1), f.sparse().get(2)), f.dense()),
                SPEC.tasks(),
                SPEC.architecture(),
                SPEC.optimizer(),
                SPEC.csv());
        TrainOperator op = new TrainOperator(TrainOperator.Settings.of(SpecJson.write(wideSpec))
                .withBatchSize(BATCH)
                .withMaxWait(60_000)
                .withPublishInterval(60_000)
                .withWorkingSetRows(100));
        try (var h = harness(op)) {
            h.open();
            ExampleEncoder enc = new ExampleEncoder(wideSpec);
            for (LabeledExample e : examples(BATCH, 9)) {
                h.processElement(train(e, wideSpec), 0);
            }
            List<EncodedExample> wide = new ArrayList<>();
            for (int i = 0; i < 300; i++) {
                wide.add(enc.encodeFeatures("{\"user\":\"x" + i + "\",\"item\":\"i1\",\"price\":3,\"age\":30}", null));
            }
            MmoeModel offline = MmoeModel.create(wideSpec, 42, DataType.FLOAT);
            offline.trainStep(Batch.of(examples(BATCH, 9).stream()
                    .map(e -> enc.encode(e.features, e.click, e.conversion))
                    .toList()));
            double[][] a = offline.predict(Batch.of(wide));
            double[][] b = op.score("m1", wide);
            for (int head = 0; head < a.length; head++) {
                assertArrayEquals(a[head], b[head], 1e-5);
            }
        }
    }

    static byte[] assemble(List<ModelChunk> chunks, long version) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        chunks.stream()
                .filter(c -> c.version == version)
                .sorted((x, y) -> Integer.compare(x.chunk, y.chunk))
                .forEach(c -> out.writeBytes(c.bytes));
        return out.toByteArray();
    }

    /**
     * Under an early feedback mode an impression is measured once its windows have closed, on the
     * watermark a later batch brings; at the end of the input no batch follows, so every one still
     * waiting is measured then, and the last version's metrics count them all.
     */
    @Test
    void atTheEndOfTheInputEveryImpressionAnEarlyModeHoldsIsMeasured() throws Exception {
        TrainOperator op = new TrainOperator(settings(60_000).withOutcomeHorizons(100, 1_000));
        ExampleEncoder enc = new ExampleEncoder(SPEC);
        try (var h = harness(op)) {
            h.open();
            h.setProcessingTime(0);
            for (LabeledExample e : examples(2 * BATCH, 60)) {
                e.kind = LabeledExample.Kind.OBSERVED;
                h.processElement(EncodeExamples.encode(enc, e), 0);
            }
            h.endInput();
            long last = h.extractOutputValues().stream()
                    .mapToLong(c -> c.version)
                    .max()
                    .orElseThrow();
            SnapshotState s = new SnapshotState();
            assertTrue(s.apply(assemble(h.extractOutputValues(), last)));
            com.fasterxml.jackson.databind.JsonNode metrics = new com.fasterxml.jackson.databind.ObjectMapper()
                    .readTree(s.metadata().get("metrics"));
            assertEquals(2 * BATCH, metrics.path("ctr").path("n").asInt(), metrics.toString());
        }
    }

    @Test
    void publishedVersionsRebuildTheOperatorsModel() throws Exception {
        TrainOperator op = new TrainOperator(settings(1_000));
        try (var h = harness(op)) {
            h.open();
            h.setProcessingTime(0);
            for (LabeledExample e : examples(3 * BATCH, 3)) {
                h.processElement(train(e), 0);
            }
            h.setProcessingTime(1_000);
            List<ModelChunk> out = h.extractOutputValues();
            assertTrue(out.size() > 1, "the snapshot is chunked at 700 bytes: " + out.size());
            assertEquals("full", out.get(0).kind);
            assertEquals(1, out.get(0).version);
            SnapshotState reader = new SnapshotState();
            assertTrue(reader.apply(assemble(out, 1)));
            List<EncodedExample> probe = encode(examples(40, 4));
            assertSameScores(op.score("m1", probe), reader.model().predict(Batch.of(probe)));

            for (LabeledExample e : examples(2 * BATCH, 5)) {
                TrainExample t = train(e);
                t.labeledAt = 1_500; // the join emitted it at 1.5 s (wall clock)
                t.finalAt = 1_000; // its labels were final at 1 s (event time)
                h.processElement(t, 0);
            }
            h.setProcessingTime(2_000);
            out = h.extractOutputValues();
            ModelChunk last = out.get(out.size() - 1);
            assertEquals(2, last.version);
            assertEquals("delta", last.kind);
            assertTrue(reader.apply(assemble(out, 2)));
            assertSameScores(op.score("m1", probe), reader.model().predict(Batch.of(probe)));
            assertEquals(40, Long.parseLong(reader.metadata().get("examples_seen")));
            assertTrue(
                    reader.metadata().get("metrics").contains("\"ctr\":{\"auc\""),
                    reader.metadata().get("metrics"));
            // Published at 2 s: 500 ms after the join emitted the examples, 1 s after their labels were final.
            var m = new com.fasterxml.jackson.databind.ObjectMapper()
                    .readTree(reader.metadata().get("metrics"));
            // (HdrHistogram at two significant digits: within 1%)
            assertEquals(500, m.at("/freshness_ms/p50").asDouble(), 5, m.toString());
            assertEquals(1_000, m.at("/label_age_ms/p50").asDouble(), 10, m.toString());
            assertEquals(2 * BATCH, m.at("/label_age_ms/n").asLong(), m.toString());

            // Nothing trained since: no new version.
            int before = out.size();
            h.setProcessingTime(3_000);
            assertEquals(before, h.extractOutputValues().size());
        }
    }

    private static void assertSameScores(double[][] a, double[][] b) {
        for (int head = 0; head < a.length; head++) {
            assertArrayEquals(a[head], b[head], 1e-6, "head " + head);
        }
    }

    @Test
    void checkpointAndRestoreKeepTheModelAndTheWaitingExamples() throws Exception {
        List<LabeledExample> xs = examples(3 * BATCH + 3, 6);
        // A max-wait longer than the test: partial batches wait for the next examples.
        TrainOperator first = new TrainOperator(settings(60_000).withMaxWait(10_000_000));
        OperatorSubtaskState snapshot;
        double[][] before;
        List<EncodedExample> probe = encode(examples(20, 7));
        try (var h = harness(first)) {
            h.open();
            h.setProcessingTime(0);
            for (LabeledExample e : xs) {
                h.processElement(train(e), 0);
            }
            // Two versions are published before the checkpoint.
            h.setProcessingTime(60_000);
            for (LabeledExample e : examples(BATCH, 10)) {
                h.processElement(train(e), 0);
            }
            h.setProcessingTime(120_000);
            assertEquals(2L, h.extractOutputValues().get(h.extractOutputValues().size() - 1).version);
            h.prepareSnapshotPreBarrier(1);
            snapshot = h.snapshot(1, 0);
            before = first.score("m1", probe);
        }
        TrainOperator second = new TrainOperator(settings(60_000).withMaxWait(10_000_000));
        try (var h = harness(second)) {
            h.initializeState(snapshot);
            h.open();
            assertSameScores(before, second.score("m1", probe));
            assertEquals(3, second.runtimeOf("m1").order.buffered(), "the examples waiting for a batch survive");
            for (LabeledExample e : examples(BATCH - 3, 8)) {
                h.processElement(train(e), 0);
            }
            assertEquals(5, second.runtimeOf("m1").model().step());
            assertEquals(40, second.runtimeOf("m1").model().examplesSeen());
            // The first version after a restore is a full snapshot, numbered after the restored ones.
            h.endInput();
            List<ModelChunk> out = h.extractOutputValues();
            assertEquals("full", out.get(0).kind);
            assertEquals(3, out.get(0).version);
            // The event time trained up to survives the restore: the latest impression was trained before it.
            SnapshotState v3 = new SnapshotState();
            assertTrue(v3.apply(assemble(out, 3)));
            long latest = xs.stream().mapToLong(e -> e.impressionTs).max().orElseThrow();
            assertTrue(
                    v3.metadata().get("metrics").contains("\"trained_up_to_event_time\":" + latest),
                    v3.metadata().get("metrics"));
        }
    }

    /**
     * With {@code optimizer.serving_average} the versions carry the moving average of the dense
     * parameters, the one an offline model of the same spec keeps over the same steps, not the
     * trained values; the operator's scores are the versions'; a checkpoint keeps the average and
     * the trained values both, so training after a restore goes on as without one. Sized in event
     * time ({@code serving_average_hours}), it moves with the newest impression trained, and its
     * clock survives the restore too.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void theServingAverageIsPublishedAndSurvivesARestore(boolean inEventTime) throws Exception {
        // In event time: about 20 ms, where the examples are 1 ms apart and a batch moves 8 ms.
        ModelSpec averaged = SPEC.withOptimizer(
                inEventTime
                        ? SPEC.optimizer().withServingAverageHours(20.0 / 3_600_000)
                        : SPEC.optimizer().withServingAverage(3));
        TrainOperator.Settings settings = TrainOperator.Settings.of(SpecJson.write(averaged))
                .withBatchSize(BATCH)
                .withMaxWait(10_000_000)
                .withPublishInterval(1_000)
                .withFullEvery(3)
                .withMetricsWindow(1000);
        MmoeModel offline = MmoeModel.create(averaged, 42, DataType.FLOAT);
        offline.useServingAverage();
        List<LabeledExample> first = examples(4 * BATCH, 31);
        List<LabeledExample> later = examples(2 * BATCH, 32);
        for (LabeledExample e : later) {
            // After the first ones in event time.
            e.impressionTs += first.size();
        }
        List<EncodedExample> probe = encode(examples(30, 33));
        OperatorSubtaskState snapshot;
        double[] v1Dense;
        try (var h = harness(new TrainOperator(settings))) {
            h.open();
            h.setProcessingTime(0);
            for (LabeledExample e : first) {
                h.processElement(train(e, averaged), 0);
            }
            h.setProcessingTime(1_000);
            for (int i = 0; i < first.size(); i += BATCH) {
                offline.advanceServingAverage(first.get(i + BATCH - 1).impressionTs);
                offline.trainStep(Batch.of(encode(first.subList(i, i + BATCH))));
            }
            SnapshotState v1 = new SnapshotState();
            assertTrue(v1.apply(assemble(h.extractOutputValues(), 1)));
            v1Dense = values(v1.model().network().paramAccess());
            assertArrayEquals(values(offline.servedParams()), v1Dense, 1e-5);
            double[] trained = values(offline.network().paramAccess());
            double[] served = values(offline.servedParams());
            double maxDiff = 0;
            for (int i = 0; i < trained.length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs(trained[i] - served[i]));
            }
            assertTrue(maxDiff > 1e-3, "the average lags the trained values: " + maxDiff);
            h.prepareSnapshotPreBarrier(1);
            snapshot = h.snapshot(1, 0);
        }
        TrainOperator restored = new TrainOperator(settings);
        try (var h = harness(restored)) {
            h.initializeState(snapshot);
            h.open();
            h.setProcessingTime(2_000);
            for (LabeledExample e : later) {
                h.processElement(train(e, averaged), 0);
            }
            for (int i = 0; i < later.size(); i += BATCH) {
                offline.advanceServingAverage(later.get(i + BATCH - 1).impressionTs);
                offline.trainStep(Batch.of(encode(later.subList(i, i + BATCH))));
            }
            MmoeModel m = restored.runtimeOf("m1").model();
            assertArrayEquals(
                    values(offline.network().paramAccess()), values(m.network().paramAccess()), 1e-5);
            assertArrayEquals(values(offline.servedParams()), values(m.servedParams()), 1e-5);
            h.setProcessingTime(3_000);
            // Version 2, the restored model's first, is full; version 3 has the later examples.
            SnapshotState reader = new SnapshotState();
            assertTrue(reader.apply(assemble(h.extractOutputValues(), 2)));
            assertArrayEquals(v1Dense, values(reader.model().network().paramAccess()), 1e-6, "the average restored");
            assertTrue(reader.apply(assemble(h.extractOutputValues(), 3)));
            assertSameScores(restored.score("m1", probe), reader.model().predict(Batch.of(probe)));
            assertSameScores(
                    offline.predictServed(Batch.of(probe)), reader.model().predict(Batch.of(probe)));
        }
    }

    @org.junit.jupiter.api.io.TempDir
    java.nio.file.Path dir;

    /** A model of {@code spec} trained offline on {@code n} examples, saved as train-file --save does. */
    static MmoeModel offline(ModelSpec spec, java.nio.file.Path file, int n) throws Exception {
        MmoeModel m = MmoeModel.create(spec, 9, DataType.FLOAT);
        List<EncodedExample> rows = encode(examples(n, 21));
        for (int from = 0; from < rows.size(); from += BATCH) {
            m.trainStep(Batch.of(rows.subList(from, Math.min(rows.size(), from + BATCH))));
        }
        java.nio.file.Files.write(
                file,
                org.mmoestream.model.codec.Snapshots.full(
                        m,
                        new org.mmoestream.model.codec.Snapshots.Meta(
                                "m1", 0, org.mmoestream.model.codec.Snapshots.FULL, 0, m.examplesSeen(), 1L, "{}"),
                        org.mmoestream.model.codec.Snapshots.tablesOf(m)));
        return m;
    }

    @Test
    void aModelStartsFromASnapshotPublishesItFirstAndKeepsItAcrossARestore() throws Exception {
        java.nio.file.Path file = dir.resolve("offline.safetensors");
        MmoeModel offline = offline(SPEC, file, 6 * BATCH);
        List<EncodedExample> probe = encode(examples(20, 7));
        TrainOperator op = new TrainOperator(settings(60_000).withInitFrom(file.toString()));
        OperatorSubtaskState snapshot;
        double[][] before;
        try (var h = harness(op)) {
            h.open();
            for (LabeledExample e : examples(2 * BATCH, 30)) {
                h.processElement(train(e), 0);
            }
            List<ModelChunk> out = h.extractOutputValues();
            SnapshotState v1 = new SnapshotState();
            assertTrue(v1.apply(assemble(out, 1)), "version 1 is a full snapshot");
            // Published before any example was trained: it scores as the offline model did.
            assertSameScores(offline.predict(Batch.of(probe)), v1.model().predict(Batch.of(probe)));
            assertEquals(6 * BATCH, v1.examplesSeen());
            assertTrue(
                    v1.metadata().get("metrics").contains("\"warm_start\":{\"file\":"),
                    v1.metadata().get("metrics"));
            assertEquals(8 * BATCH, op.runtimeOf("m1").model().examplesSeen(), "the stream's examples add to them");
            h.prepareSnapshotPreBarrier(1);
            snapshot = h.snapshot(1, 0);
            before = op.score("m1", probe);
        }
        // A restore starts from the checkpoint, not from the file again: no second version 1.
        TrainOperator second = new TrainOperator(settings(60_000).withInitFrom(file.toString()));
        try (var h = harness(second)) {
            h.initializeState(snapshot);
            h.open();
            h.processElement(train(examples(1, 40).get(0)), 0);
            assertSameScores(before, second.score("m1", probe));
            h.endInput();
            List<ModelChunk> out = h.extractOutputValues();
            assertEquals(2, out.get(0).version, "numbered after the restored version");
        }
    }

    @Test
    void aSpecWhoseTableChangedShapeIsRefusedNamingTheTensor() throws Exception {
        java.nio.file.Path file = dir.resolve("old.safetensors");
        offline(SPEC, file, BATCH);
        ModelSpec wider = new ModelSpec(
                SPEC.name(),
                new org.mmoestream.feature.FeatureSpec(
                        SPEC.features().sparse().stream()
                                .map(f -> new org.mmoestream.feature.SparseFeature(
                                        f.name(), f.column(), f.buckets(), f.dim() * 2, f.multi(), f.separator()))
                                .toList(),
                        SPEC.features().dense()),
                SPEC.tasks(),
                SPEC.architecture(),
                SPEC.optimizer(),
                SPEC.csv());
        org.mmoestream.config.InputException e = org.junit.jupiter.api.Assertions.assertThrows(
                org.mmoestream.config.InputException.class, () -> TrainOperator.checkInitFrom(file.toString(), wider));
        String first = SPEC.features().sparse().get(0).name();
        assertTrue(
                e.getMessage().startsWith("train.init-from: embedding." + first + ".weight is [")
                        || e.getMessage().startsWith("train.init-from: expert."),
                e.getMessage());
        assertTrue(e.getMessage().endsWith("so the model cannot start from it."), e.getMessage());
    }

    @Test
    void aSpecWithOneMoreFeatureStartsFromAnOldSnapshotAndScoresAsItDid() throws Exception {
        java.nio.file.Path file = dir.resolve("before.safetensors");
        MmoeModel offline = offline(SPEC, file, 6 * BATCH);
        List<org.mmoestream.feature.SparseFeature> sparse =
                new ArrayList<>(SPEC.features().sparse());
        sparse.add(new org.mmoestream.feature.SparseFeature("campaign", "campaign", 10, 4, false, null));
        ModelSpec more = SPEC.withFeatures(
                new org.mmoestream.feature.FeatureSpec(sparse, SPEC.features().dense()));
        TrainOperator.checkInitFrom(file.toString(), more);
        TrainOperator op = new TrainOperator(TrainOperator.Settings.of(SpecJson.write(more))
                .withBatchSize(BATCH)
                .withMaxWait(60_000)
                .withPublishInterval(60_000)
                .withMaxMessageBytes(1 << 20)
                .withInitFrom(file.toString()));
        List<LabeledExample> probeEvents = examples(20, 7);
        List<EncodedExample> oldProbe = encode(probeEvents);
        ExampleEncoder moreEncoder = new ExampleEncoder(more);
        List<EncodedExample> newProbe = probeEvents.stream()
                .map(e -> moreEncoder.encode(e.features, e.click, e.conversion))
                .toList();
        try (var h = harness(op)) {
            h.open();
            for (LabeledExample e : examples(2 * BATCH, 31)) {
                h.processElement(train(e, more), 0);
            }
            SnapshotState v1 = new SnapshotState();
            assertTrue(v1.apply(assemble(h.extractOutputValues(), 1)));
            // The new input starts with zero weight in the first layers: the old model's scores.
            assertSameScores(offline.predict(Batch.of(oldProbe)), v1.model().predict(Batch.of(newProbe)));
            // Every tensor of the same shape is carried over unchanged.
            for (ParamLayout.Entry e : v1.model().network().layout().entries()) {
                ParamLayout.Entry o = offline.network().layout().get(e.name());
                if (o.cols() == e.cols()) {
                    float[] a = new float[e.size()];
                    float[] b = new float[o.size()];
                    v1.model().network().paramAccess().readFloats(e.offset(), a, 0, a.length);
                    offline.network().paramAccess().readFloats(o.offset(), b, 0, b.length);
                    org.junit.jupiter.api.Assertions.assertArrayEquals(b, a, e.name());
                }
            }
            // The new table has its initial values; training goes on with it.
            double[] expected = new double[4];
            float[] row = new float[4 * (1 + v1.model().embeddings().stateSlots())];
            Embeddings.initialRow(42, sparse.size() - 1, 3, expected);
            v1.model().embeddings().readRow(sparse.size() - 1, 3, row);
            assertEquals(expected[0], row[0], 1e-7);
            h.endInput();
            assertEquals(8 * BATCH, op.runtimeOf("m1").model().examplesSeen());
        }
    }

    @Test
    void aModelRestoredButGivenNoExampleIsStillPublishedAtTheEnd() throws Exception {
        TrainOperator first = new TrainOperator(settings(60_000));
        OperatorSubtaskState snapshot;
        try (var h = harness(first)) {
            h.open();
            h.setProcessingTime(0);
            for (LabeledExample e : examples(2 * BATCH, 50)) {
                h.processElement(train(e), 0);
            }
            h.setProcessingTime(60_000); // m1's version 1
            for (LabeledExample e : examples(BATCH, 51)) {
                h.processElement(train(e), 0); // trained after it, in no version yet
            }
            h.prepareSnapshotPreBarrier(1);
            snapshot = h.snapshot(1, 0);
        }
        TrainOperator second = new TrainOperator(settings(60_000));
        try (var h = harness(second)) {
            h.initializeState(snapshot);
            h.open();
            for (LabeledExample e : examples(BATCH, 52)) {
                e.model = "m2";
                h.processElement(train(e), 0);
            }
            h.endInput();
            SnapshotState m1 = null;
            for (ModelChunk c : h.extractOutputValues()) {
                if (c.model.equals("m1")) {
                    m1 = new SnapshotState();
                    assertTrue(m1.apply(assemble(
                            h.extractOutputValues().stream()
                                    .filter(x -> x.model.equals("m1"))
                                    .toList(),
                            c.version)));
                }
            }
            assertTrue(m1 != null, "m1 is published at the end although no m1 example came after the restore");
            assertEquals(3 * BATCH, m1.examplesSeen());
        }
    }
}
