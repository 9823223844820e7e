package org.mmoestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.Batch;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.SpecLoader;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.publish.ModelReader;
import org.mmoestream.simulate.Simulator;
import org.mmoestream.testing.FlinkCluster;
import org.mmoestream.testing.KafkaBroker;

/**
 * Rescaling one model's training with savepoints: the pipeline with one trainer ({@code
 * train.parallelism} 1) trains on a first share of the events and is stopped with a savepoint;
 * restarted from it at 2, then at 4, then at 1 again, each time after training on another share. After
 * each restart the first version is numbered on from the last one before the stop and holds the
 * same model: every tensor, and the scores of held-out impressions, equal to 1e-6.
 */
class RescaleITCase {
    private static final ModelSpec SPEC = SpecLoader.load(Path.of("examples/ctr-cvr.yaml"));
    private static final String MODEL = "default";
    private static final int SHARE = 3_000;
    /** The train.parallelism of each run, one after the other. */
    private static final int[] STEPS = {1, 2, 4, 1};

    @RegisterExtension
    static final MiniClusterExtension FLINK = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1)
            .setNumberSlotsPerTaskManager(4)
            .setConfiguration(FlinkCluster.config())
            .build());

    @RegisterExtension
    static final KafkaBroker KAFKA = new KafkaBroker();

    @TempDir
    static Path savepoints;

    private static JobConfig config(int trainParallelism) {
        Map<String, String> m = new HashMap<>(JobConfig.topicsWithPrefix("rescale"));
        m.put(Key.BOOTSTRAP.yaml(), KAFKA.bootstrapServers());
        m.put(Key.GROUP_ID.yaml(), "rescale");
        m.put(Key.CLICK_WINDOW.yaml(), "2 s");
        m.put(Key.CONVERSION_WINDOW.yaml(), "5 s");
        m.put(Key.OUT_OF_ORDERNESS.yaml(), "1 s");
        m.put(Key.BATCH_SIZE.yaml(), "64");
        m.put(Key.PUBLISH_INTERVAL.yaml(), "500 ms");
        m.put(Key.FULL_EVERY.yaml(), "4");
        m.put(Key.MAX_MESSAGE_BYTES.yaml(), "200000");
        m.put(Key.TRAIN_PARALLELISM.yaml(), String.valueOf(trainParallelism));
        return JobConfig.of(m);
    }

    /**
     * Impressions {@code from} to {@code from + n} of one simulated stream, 10 ms apart in event time, with
     * their clicks and conversions.
     */
    private static void produce(JobConfig cfg, Simulator sim, long base, int from, int n) {
        record Rec(String topic, String key, String json, long ts) {}
        List<Rec> recs = new ArrayList<>();
        for (int i = from; i < from + n; i++) {
            Simulator.Impression imp = sim.next(base + i * 10L, 1_500, 3_500);
            recs.add(new Rec(
                    cfg.string(Key.TOPIC_IMPRESSIONS), imp.requestId(), Simulator.impressionJson(imp), imp.ts()));
            if (imp.clicked()) {
                recs.add(new Rec(
                        cfg.string(Key.TOPIC_CLICKS),
                        imp.requestId(),
                        Simulator.clickJson(imp),
                        imp.ts() + imp.clickDelay()));
            }
            if (imp.converted()) {
                recs.add(new Rec(
                        cfg.string(Key.TOPIC_CONVERSIONS),
                        imp.requestId(),
                        Simulator.conversionJson(imp),
                        imp.ts() + imp.clickDelay() + imp.conversionDelay()));
            }
        }
        recs.sort(Comparator.comparingLong(Rec::ts));
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(
                Map.of("bootstrap.servers", KAFKA.bootstrapServers(), "linger.ms", "20", "acks", "all"),
                new ByteArraySerializer(),
                new ByteArraySerializer())) {
            for (Rec r : recs) {
                p.send(new ProducerRecord<>(
                        r.topic(),
                        r.key().getBytes(StandardCharsets.UTF_8),
                        r.json().getBytes(StandardCharsets.UTF_8)));
            }
            p.flush();
        }
    }

    private static JobClient start(int trainParallelism, String savepoint) throws Exception {
        Configuration conf = FlinkCluster.config();
        if (savepoint != null) {
            conf.setString("execution.state-recovery.path", savepoint);
            // From N > 1 to 1 the replicas' operator and the sync sink are gone; they hold no model and
            // no example (a replica trains all it has before each barrier), so their state may be left.
            conf.setString("execution.state-recovery.ignore-unclaimed-state", String.valueOf(trainParallelism == 1));
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(2);
        JobConfig cfg = config(trainParallelism);
        PipelineJob.build(
                env,
                cfg,
                SPEC,
                KafkaIo.events(cfg, false),
                null,
                KafkaIo.deadLetters(cfg, "rescale"),
                KafkaIo.modelSink(cfg, "rescale"));
        return env.executeAsync("rescale-" + trainParallelism);
    }

    /**
     * Reads the model topic until the model has trained on more than {@code after} examples and no version has
     * come for 3 s.
     */
    private static SnapshotState settled(ModelReader reader, long after) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (reader.model(MODEL) == null || reader.model(MODEL).examplesSeen() <= after) {
            reader.poll(Duration.ofMillis(200));
            assertTrue(
                    System.nanoTime() < deadline,
                    "within 120 s, a version trained on more than " + after + " examples");
        }
        reader.pollUntilQuiet(Duration.ofSeconds(3), Duration.ofSeconds(60));
        return reader.model(MODEL);
    }

    /** Reads the model topic until a version after {@code version} is in. */
    private static SnapshotState next(ModelReader reader, long version) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (reader.model(MODEL) == null || reader.model(MODEL).version() <= version) {
            reader.poll(Duration.ofMillis(200));
            assertTrue(System.nanoTime() < deadline, "within 60 s, a version after " + version);
        }
        return reader.model(MODEL);
    }

    /**
     * A version as read (the reader's model changes as it reads on): number, examples, dense parameters, held-
     * out scores.
     */
    private record Seen(long version, long examples, double[] dense, double[][] scores) {
        static Seen of(SnapshotState s, List<EncodedExample> heldOut) {
            var p = s.model().network().paramAccess();
            double[] dense = new double[(int) p.length()];
            for (int i = 0; i < dense.length; i++) {
                dense[i] = p.get(i);
            }
            return new Seen(s.version(), s.examplesSeen(), dense, s.model().predict(Batch.of(heldOut)));
        }
    }

    private static void assertSameModel(Seen before, Seen after, String step) {
        assertEquals(before.version() + 1, after.version(), step + ": numbered on from the last version");
        assertEquals(before.examples(), after.examples(), step + ": examples seen");
        assertEquals(before.dense().length, after.dense().length);
        double dense = 0;
        for (int i = 0; i < before.dense().length; i++) {
            dense = Math.max(dense, Math.abs(before.dense()[i] - after.dense()[i]));
        }
        double scores = 0;
        for (int h = 0; h < before.scores().length; h++) {
            for (int r = 0; r < before.scores()[h].length; r++) {
                scores = Math.max(scores, Math.abs(before.scores()[h][r] - after.scores()[h][r]));
            }
        }
        System.out.printf(
                "%s: version %d -> %d, %d examples, max |dense difference| %.2g, max |score difference| %.2g%n",
                step, before.version(), after.version(), after.examples(), dense, scores);
        assertTrue(dense <= 1e-6, step + ": dense parameters differ by " + dense);
        assertTrue(scores <= 1e-6, step + ": held-out scores differ by " + scores);
    }

    @Test
    void savepointsCarryTheModelFromOneToTwoToFourAndBackToOne() throws Exception {
        JobConfig cfg = config(2);
        KAFKA.createTopics(Map.of(
                cfg.string(Key.TOPIC_IMPRESSIONS),
                2,
                cfg.string(Key.TOPIC_CLICKS),
                2,
                cfg.string(Key.TOPIC_CONVERSIONS),
                2,
                cfg.string(Key.TOPIC_DEAD_LETTER),
                1,
                cfg.string(Key.TOPIC_MODEL),
                1,
                cfg.string(Key.TOPIC_TRAIN_SYNC),
                1));
        Simulator sim = new Simulator(5, 300, 100, 0.5, MODEL);
        long base = System.currentTimeMillis() - 3_600_000L;
        ExampleEncoder enc = new ExampleEncoder(SPEC);
        Simulator heldOutSim = new Simulator(6, 300, 100, 0.5, MODEL);
        List<EncodedExample> heldOut = new ArrayList<>();
        for (int i = 0; i < 500; i++) {
            heldOut.add(enc.encodeFeatures(heldOutSim.next(base, 1, 1).featuresJson(), null));
        }

        try (ModelReader reader =
                new ModelReader(KAFKA.bootstrapServers(), cfg.string(Key.TOPIC_MODEL), null, new Properties())) {
            // One trainer, then 2, 4 and 1 again: each trains on a share of its own, is stopped with a
            // savepoint, and the next starts from it (the last without the replicas' operator and the
            // sync sink, whose unclaimed state holds no model and no example).
            String savepoint = null;
            Seen last = null;
            List<Long> trained = new ArrayList<>();
            for (int step = 0; step < STEPS.length; step++) {
                int n = STEPS[step];
                JobClient job = start(n, savepoint);
                if (last != null) {
                    assertSameModel(last, Seen.of(next(reader, last.version()), heldOut), STEPS[step - 1] + " -> " + n);
                }
                produce(cfg, sim, base, step * SHARE, SHARE);
                long before = last == null ? 0 : last.examples();
                long examples = settled(reader, before).examplesSeen();
                trained.add(examples);
                if (step == STEPS.length - 1) {
                    job.cancel().get(60, TimeUnit.SECONDS);
                    break;
                }
                savepoint = job.stopWithSavepoint(false, savepoints.toUri().toString(), SavepointFormatType.CANONICAL)
                        .get(120, TimeUnit.SECONDS);
                reader.pollUntilQuiet(Duration.ofSeconds(2), Duration.ofSeconds(30));
                last = Seen.of(reader.model(MODEL), heldOut);
                assertTrue(last.examples() > before, "trained at " + n);
            }

            // Versions 1..n, each once.
            List<Long> numbers = reader.versions().stream()
                    .filter(v -> v.model().equals(MODEL))
                    .map(ModelReader.Version::version)
                    .toList();
            for (int i = 0; i < numbers.size(); i++) {
                assertEquals(i + 1, numbers.get(i), "versions in order without gaps or repeats: " + numbers);
            }
            System.out.printf(
                    "versions 1..%d; examples trained after each step (train.parallelism %s): %s%n",
                    numbers.size(), java.util.Arrays.toString(STEPS), trained);
        }
    }
}
