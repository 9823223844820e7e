package org.mmoestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.event.LabeledExample;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.SpecLoader;
import org.mmoestream.model.codec.Safetensors;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.model.codec.Snapshots;
import org.mmoestream.offline.CsvExamples;
import org.mmoestream.offline.OfflineTrainer;
import org.mmoestream.offline.RowFilter;
import org.mmoestream.publish.ModelReader;
import org.mmoestream.replay.CsvReplay;
import org.mmoestream.simulate.EventWriter;
import org.mmoestream.testing.FlinkCluster;
import org.mmoestream.testing.KafkaBroker;
import org.mmoestream.testing.PipelineChecks;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * A labeled CSV file replayed as events through the pipeline (embedded Kafka, MiniCluster with
 * RocksDB, join at parallelism 2, trainer in event-time order) yields exactly one example per row
 * with the row's labels, and the model it trains has the parameters of {@code train-file --epochs 1}
 * on the same rows in the same order, to 1e-5.
 */
class ReplayITCase {
    @RegisterExtension
    static final MiniClusterExtension FLINK = FlinkCluster.extension();

    private static final int BATCH = 16;
    private static final Path DATA = Path.of("../shared/data");

    @RegisterExtension
    static final KafkaBroker KAFKA = new KafkaBroker();

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "ali-ccp, examples/ali-ccp.yaml, ali-ccp/torch-rechub_ali_ccp_train_sample.csv",
        "aliexpress, examples/aliexpress.yaml, aliexpress/torch-rechub_aliexpress_train_sample.csv"
    })
    void replayedFileTrainsAsTrainFileDoes(String run, String specFile, String csv) throws Exception {
        ModelSpec spec = SpecLoader.load(Path.of(specFile));
        Path file = DATA.resolve(csv);
        Map<String, String> m = new HashMap<>(JobConfig.topicsWithPrefix(run));
        m.put(Key.BOOTSTRAP.yaml(), KAFKA.bootstrapServers());
        m.put(Key.GROUP_ID.yaml(), "replay-" + run);
        m.put(Key.BATCH_SIZE.yaml(), String.valueOf(BATCH));
        m.put(Key.ORDER.yaml(), "event-time");
        m.put(Key.PUBLISH_INTERVAL.yaml(), "300 ms");
        m.put(Key.OUT_OF_ORDERNESS.yaml(), "1 s");
        JobConfig cfg = JobConfig.of(m);
        KAFKA.createTopics(Map.of(
                cfg.string(Key.TOPIC_IMPRESSIONS),
                2,
                cfg.string(Key.TOPIC_CLICKS),
                2,
                cfg.string(Key.TOPIC_CONVERSIONS),
                2,
                cfg.string(Key.TOPIC_EXAMPLES),
                1,
                cfg.string(Key.TOPIC_DEAD_LETTER),
                1,
                cfg.string(Key.TOPIC_MODEL),
                1));

        // The file's rows, as train-file reads them.
        List<CsvExamples.Row> rows = new ArrayList<>();
        new CsvExamples(spec).scan(file, RowFilter.ALL, false, rows::add);

        CsvReplay replay = new CsvReplay(spec);
        long start = System.currentTimeMillis() - 3_600_000L;
        try (EventWriter w = new EventWriter(
                KAFKA.bootstrapServers(),
                cfg.string(Key.TOPIC_IMPRESSIONS),
                cfg.string(Key.TOPIC_CLICKS),
                cfg.string(Key.TOPIC_CONVERSIONS),
                new Properties())) {
            CsvReplay.Summary sum = replay.write(
                    file, RowFilter.ALL, new CsvReplay.Timing(start, 10, 1_000, 10_000), "default", "row-", w, null);
            w.finish(false);
            assertEquals(rows.size(), sum.rows());
        }

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(FlinkCluster.config());
        env.setParallelism(2);
        Properties client = new Properties();
        PipelineJob.build(
                env,
                cfg,
                spec,
                KafkaIo.events(cfg, true),
                KafkaIo.examples(cfg, run),
                KafkaIo.deadLetters(cfg, run),
                KafkaIo.modelSink(cfg, run));
        env.execute("replay-" + run);

        // Exactly one example per row, with the row's labels.
        Map<String, String> ids = new HashMap<>();
        rows.forEach(row -> ids.put(CsvReplay.requestId("row-", row.number()), "default"));
        Map<String, LabeledExample> examples = PipelineChecks.assertOneExamplePerImpression(
                KAFKA.bootstrapServers(), cfg.string(Key.TOPIC_EXAMPLES), ids, Duration.ofSeconds(60));
        for (CsvExamples.Row row : rows) {
            LabeledExample e = examples.get(CsvReplay.requestId("row-", row.number()));
            float[] labels = row.example().labels();
            assertEquals((int) labels[0], e.click, "click of row " + row.number());
            assertEquals((int) labels[1], e.conversion, "conversion of row " + row.number());
        }

        // The published model equals train-file --epochs 1 (same seed, batch, rows in file order).
        MmoeModel offline = MmoeModel.create(spec, 42, DataType.FLOAT);
        new OfflineTrainer(new OfflineTrainer.Options(1, BATCH, 42, 2), System.err)
                .run(offline, rows.stream().map(CsvExamples.Row::example).toList(), null);
        try (ModelReader reader =
                new ModelReader(KAFKA.bootstrapServers(), cfg.string(Key.TOPIC_MODEL), null, client)) {
            reader.pollUntilQuiet(Duration.ofSeconds(3), Duration.ofSeconds(60));
            SnapshotState streamed = reader.model("default");
            assertNotNull(streamed, "a published model");
            assertEquals(rows.size(), streamed.examplesSeen());
            Map<String, Safetensors.Tensor> a = tensors(streamed.model());
            Map<String, Safetensors.Tensor> b = tensors(offline);
            assertEquals(b.keySet(), a.keySet());
            double worst = 0;
            for (String name : b.keySet()) {
                float[] x = a.get(name).f32();
                float[] y = b.get(name).f32();
                assertEquals(y.length, x.length, name);
                for (int i = 0; i < x.length; i++) {
                    worst = Math.max(worst, Math.abs(x[i] - y[i]));
                }
            }
            System.out.printf(
                    "replay %s: %d rows, %d tensors, max |streamed - train-file| = %.3g%n",
                    run, rows.size(), a.size(), worst);
            assertTrue(worst <= 1e-5, "parameters differ by " + worst);
            assertTrue(offline.step() > 1, "several training steps");
        }
    }

    private static Map<String, Safetensors.Tensor> tensors(MmoeModel m) {
        byte[] bytes = Snapshots.full(
                m,
                new Snapshots.Meta("default", 1, Snapshots.FULL, 0, m.examplesSeen(), 0, "{}"),
                Snapshots.tablesOf(m));
        return Safetensors.read(bytes).tensors();
    }
}
