package org.mmoestream.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.util.List;
import java.util.Random;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.mmoestream.event.LabeledExample;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.Batch;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.Variant;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.model.codec.SpecJson;
import org.mmoestream.publish.ModelChunk;
import org.mmoestream.testing.TestSpecs;

/**
 * Examples, partial batches, publications (full and delta) and checkpoint flushes in a random
 * order: after every version, the model rebuilt from the published bytes scores exactly as the
 * operator does.
 */
class TrainOperatorPublishParityTest {
    private static final ModelSpec SPEC = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5})
    void everyVersionRebuildsTheOperatorsModel(long seed) throws Exception {
        Random rnd = new Random(seed);
        // A row budget of 1..40: the working sets fill, write back and reload their rows all the time.
        var settings = TrainOperator.Settings.of(SpecJson.write(SPEC))
                .withBatchSize(8)
                .withMaxWait(100)
                .withPublishInterval(1_000)
                .withFullEvery(3)
                .withMaxMessageBytes(900)
                .withWorkingSetRows(1 + rnd.nextInt(40))
                .withMetricsWindow(500);
        TrainOperator op = new TrainOperator(settings);
        List<EncodedExample> probe = TrainOperatorTest.examples(30, 99).stream()
                .map(e -> new ExampleEncoder(SPEC).encode(e.features, e.click, e.conversion))
                .toList();
        SnapshotState reader = new SnapshotState();
        ByteArrayOutputStream pending = new ByteArrayOutputStream();
        long time = 0;
        int versions = 0;
        int checkpoint = 0;
        try (var h = new KeyedOneInputStreamOperatorTestHarness<>(op, (TrainExample e) -> e.model, Types.STRING)) {
            h.setStateBackend(new EmbeddedRocksDBStateBackend());
            h.open();
            h.setProcessingTime(0);
            int consumed = 0;
            for (int step = 0; step < 60; step++) {
                int action = rnd.nextInt(10);
                if (action < 6) {
                    for (LabeledExample e : TrainOperatorTest.examples(1 + rnd.nextInt(12), seed * 1000 + step)) {
                        h.processElement(TrainOperatorTest.train(e), 0);
                    }
                } else if (action < 8) {
                    time += 1 + rnd.nextInt(1_200);
                    h.setProcessingTime(time);
                } else {
                    h.prepareSnapshotPreBarrier(++checkpoint);
                    h.snapshot(checkpoint, time);
                }
                List<ModelChunk> out = h.extractOutputValues();
                for (ModelChunk c : out.subList(consumed, out.size())) {
                    if (c.chunk == 0) {
                        pending.reset();
                    }
                    pending.writeBytes(c.bytes);
                    if (c.chunk + 1 == c.chunks) {
                        assertTrue(reader.apply(pending.toByteArray()), "version " + c.version + " applies");
                        assertEquals(++versions, c.version);
                        double[][] expected = op.score("m1", probe);
                        double[][] actual = reader.model().predict(Batch.of(probe));
                        for (int head = 0; head < expected.length; head++) {
                            assertArrayEquals(
                                    expected[head],
                                    actual[head],
                                    1e-6,
                                    "seed " + seed + ", version " + c.version + ", head " + head);
                        }
                    }
                }
                consumed = out.size();
            }
            assertTrue(versions >= 3, "versions " + versions);
        }
    }
}
