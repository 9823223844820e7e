package org.mmoestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.Batch;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.SpecLoader;
import org.mmoestream.model.Variant;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.model.codec.Snapshots;
import org.mmoestream.publish.ModelChunk;
import org.mmoestream.publish.ModelReader;
import org.mmoestream.publish.ModelRecords;
import org.mmoestream.testing.FailOnce;
import org.mmoestream.testing.FlinkCluster;
import org.mmoestream.testing.KafkaBroker;
import org.mmoestream.testing.Paced;
import org.mmoestream.testing.TestSpecs;
import org.mmoestream.testing.TopicReader;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The scoring job on an embedded Kafka broker and a MiniCluster (RocksDB, checkpoints): requests
 * sent before any model exists are scored when the first version arrives, also across a failure;
 * after a new version, later scores carry it; every request gets one score or one dead letter;
 * scores equal the model's own to 1e-6, for the CTR/CVR heads and for the census spec's; a model
 * version older than the maximum age scores stale; corrupted model records never stop the job.
 */
class ScoringJobITCase {
    @RegisterExtension
    static final MiniClusterExtension FLINK = FlinkCluster.extension();

    @RegisterExtension
    static final KafkaBroker KAFKA = new KafkaBroker();

    static final ModelSpec SPEC = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
    static final ObjectMapper JSON = new ObjectMapper();

    private static String features(int i) {
        return "{\"user\":\"u" + (i % 13) + "\",\"item\":\"i" + (i % 7) + "\",\"tags\":[\"t" + (i % 3)
                + "\"],\"price\":" + i + ",\"age\":30}";
    }

    private static String request(String id, String model, String features) throws Exception {
        var r = JSON.createObjectNode();
        r.put("request_id", id);
        r.put("ts", System.currentTimeMillis());
        r.put("model", model);
        r.set("features", JSON.readTree(features));
        return r.toString();
    }

    private static void send(KafkaProducer<byte[], byte[]> p, String topic, String json) {
        p.send(new ProducerRecord<>(topic, json.getBytes(StandardCharsets.UTF_8)));
    }

    private static KafkaProducer<byte[], byte[]> producer() {
        return new KafkaProducer<>(
                Map.of("bootstrap.servers", KAFKA.bootstrapServers(), "max.request.size", "4000000"),
                new ByteArraySerializer(),
                new ByteArraySerializer());
    }

    private static void publish(
            KafkaProducer<byte[], byte[]> p, String topic, byte[] snapshot, long version, String kind) {
        for (ModelChunk c : ModelChunk.split("m1", version, kind, snapshot, 600)) {
            ProducerRecord<byte[], byte[]> r = new ModelRecords(topic).serialize(c, null, null);
            p.send(new ProducerRecord<>(
                    topic,
                    null,
                    null,
                    r.key(),
                    r.value(),
                    new RecordHeaders(r.headers().toArray())));
        }
        p.flush();
    }

    /** A model-topic record with the given headers (name, value pairs) and value. */
    private static void raw(KafkaProducer<byte[], byte[]> p, String topic, byte[] value, String... headers) {
        RecordHeaders h = new RecordHeaders();
        for (int i = 0; i < headers.length; i += 2) {
            h.add(headers[i], headers[i + 1].getBytes(StandardCharsets.UTF_8));
        }
        p.send(new ProducerRecord<>(topic, null, null, "m1".getBytes(StandardCharsets.UTF_8), value, h));
        p.flush();
    }

    /** A job configuration whose topics carry {@code prefix}; the topics are created. */
    private static JobConfig config(String prefix, Map<String, String> overrides) {
        Map<String, String> m = new HashMap<>(JobConfig.topicsWithPrefix(prefix));
        m.put(Key.BOOTSTRAP.yaml(), KAFKA.bootstrapServers());
        m.put(Key.GROUP_ID.yaml(), prefix);
        m.put(Key.SCORING_WARM_UP.yaml(), "200");
        m.putAll(overrides);
        JobConfig cfg = JobConfig.of(m);
        KAFKA.createTopics(Map.of(
                cfg.string(Key.TOPIC_SCORE_REQUESTS),
                2,
                cfg.string(Key.TOPIC_SCORES),
                2,
                cfg.string(Key.TOPIC_MODEL),
                1,
                cfg.string(Key.TOPIC_DEAD_LETTER),
                1));
        return cfg;
    }

    /** Jobs started by the current test, cancelled after it whatever its outcome (they hold the slots). */
    private final List<JobClient> jobs = new ArrayList<>();

    @AfterEach
    void cancelJobs() throws Exception {
        for (JobClient j : jobs) {
            if (!j.getJobStatus().get().isGloballyTerminalState()) {
                j.cancel().get();
            }
        }
    }

    private JobClient start(JobConfig cfg, String name) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(FlinkCluster.config());
        env.setParallelism(2);
        ScoringJob.build(
                env,
                cfg,
                KafkaIo.requests(cfg, false),
                KafkaIo.models(cfg),
                KafkaIo.scores(cfg, name),
                KafkaIo.deadLetters(cfg, name));
        JobClient job = env.executeAsync(name);
        jobs.add(job);
        return job;
    }

    private static byte[] full(MmoeModel m, long version, long createdAt) {
        return Snapshots.full(
                m, new Snapshots.Meta("m1", version, Snapshots.FULL, 0, 0, createdAt, "{}"), Snapshots.tablesOf(m));
    }

    private static SnapshotState state(byte[] snapshot) {
        SnapshotState s = new SnapshotState();
        s.apply(snapshot);
        return s;
    }

    private static double[] predict(SnapshotState s, String features) {
        double[][] p = s.model()
                .predict(Batch.of(List.of(new ExampleEncoder(s.model().spec()).encodeFeatures(features, null))));
        double[] out = new double[p.length];
        for (int h = 0; h < p.length; h++) {
            out[h] = p[h][0];
        }
        return out;
    }

    private static List<JsonNode> scores(JobConfig cfg, int expected) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : TopicReader.readAll(
                KAFKA.bootstrapServers(),
                cfg.string(Key.TOPIC_SCORES),
                expected,
                Duration.ofSeconds(60),
                Duration.ofSeconds(2))) {
            out.add(JSON.readTree(r.value()));
        }
        return out;
    }

    @Test
    void requestsWaitForTheFirstModelAndScoresCarryTheirVersion() throws Exception {
        // The early requests wait for m1, published 1.5 s after them: 10 s leaves a loaded machine room
        // (at 2 s one run on a loaded machine did not score them: past the wait they go to dead letters).
        JobConfig cfg = config("s", Map.of(Key.SCORING_UNKNOWN_WAIT.yaml(), "10 s"));
        String requestTopic = cfg.string(Key.TOPIC_SCORE_REQUESTS);
        // Two model versions, and what each scores for every request.
        MmoeModel model = MmoeModel.create(SPEC, 9, DataType.FLOAT);
        byte[] v1 = full(model, 1, System.currentTimeMillis());
        ExampleEncoder enc = new ExampleEncoder(SPEC);
        List<EncodedExample> train = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            train.add(enc.encode(features(i), i % 2, 0));
        }
        model.trainStep(Batch.of(train));
        byte[] v2 = full(model, 2, System.currentTimeMillis());
        Map<Long, SnapshotState> versions = Map.of(1L, state(v1), 2L, state(v2));

        JobClient job = start(cfg, "scoring-it");
        Set<String> requests = new HashSet<>();
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            // Before any model: these wait.
            for (int i = 0; i < 50; i++) {
                send(p, requestTopic, request("early" + i, "m1", features(i)));
                requests.add("early" + i);
            }
            // An unknown model, bad features, and a malformed record: dead letters.
            send(p, requestTopic, request("nomodel", "m9", features(1)));
            send(p, requestTopic, request("bad\"price", "m1", "{\"price\":\"cheap\"}"));
            send(p, requestTopic, "{\"ts\":" + System.currentTimeMillis() + "}");
            p.flush();
            Thread.sleep(1500);
            publish(p, cfg.string(Key.TOPIC_MODEL), v1, 1, Snapshots.FULL);
            assertTrue(scores(cfg, 50).size() >= 50, "the early requests are scored once the model arrives");
            publish(p, cfg.string(Key.TOPIC_MODEL), v2, 2, Snapshots.FULL);
            Thread.sleep(3000);
            for (int i = 0; i < 50; i++) {
                send(p, requestTopic, request("late" + i, "m1", features(i)));
                requests.add("late" + i);
            }
            p.flush();
        }
        List<JsonNode> scores = scores(cfg, 100);
        List<ConsumerRecord<byte[], byte[]>> dead = TopicReader.readAll(
                KAFKA.bootstrapServers(),
                cfg.string(Key.TOPIC_DEAD_LETTER),
                3,
                Duration.ofSeconds(60),
                Duration.ofSeconds(3));
        job.cancel().get();

        Set<String> scored = new HashSet<>();
        for (JsonNode s : scores) {
            String id = s.get("request_id").asText();
            assertTrue(scored.add(id), "one score per request: " + id);
            long version = s.get("model_version").asLong();
            assertEquals(
                    id.startsWith("early") ? 1 : 2, version, "a request is scored by the version current then: " + id);
            double[] expected = predict(versions.get(version), features(Integer.parseInt(id.replaceAll("\\D", ""))));
            assertEquals(expected[0], s.get("ctr").asDouble(), 1e-6, id);
            assertEquals(expected[1], s.get("cvr").asDouble(), 1e-6, id);
            assertEquals(expected[2], s.get("ctcvr").asDouble(), 1e-6, id);
            assertFalse(s.get("stale").asBoolean());
        }
        assertEquals(requests, scored, "every valid request scored exactly once");
        assertEquals(3, dead.size(), "unknown model, bad features, malformed: one dead letter each");
        Map<String, JsonNode> byReason = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : dead) {
            JsonNode d = JSON.readTree(r.value());
            byReason.put(d.get("reason").asText(), d);
        }
        assertTrue(
                byReason.keySet().stream().anyMatch(x -> x.contains("unknown model 'm9'")),
                byReason.keySet().toString());
        assertTrue(
                byReason.keySet().stream().anyMatch(x -> x.contains("lacks request_id")),
                byReason.keySet().toString());
        JsonNode price = byReason.entrySet().stream()
                .filter(e -> e.getKey().contains("price"))
                .findFirst()
                .orElseThrow()
                .getValue();
        // The dead letter's raw is the request as JSON, also when its id holds a quote.
        assertEquals(
                "bad\"price",
                JSON.readTree(price.get("raw").asText()).get("request_id").asText());
    }

    /**
     * A job that fails in the middle of its requests restores its checkpoint, including the requests
     * that wait for a model, and still answers every request: at least once, or exactly once.
     */
    @ParameterizedTest
    @ValueSource(strings = {"at-least-once", "exactly-once"})
    void aRestartedJobAnswersEveryRequest(String delivery) throws Exception {
        String prefix = "restart-" + delivery;
        JobConfig cfg = config(prefix, Map.of(Key.SCORING_DELIVERY.yaml(), delivery));
        int n = 1500;
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            for (int i = 0; i < n; i++) {
                send(p, cfg.string(Key.TOPIC_SCORE_REQUESTS), request("r" + i, "m1", features(i)));
            }
            p.flush();
            StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(FlinkCluster.config());
            env.setParallelism(2);
            // About 2 ms per request per instance: checkpoints (every 200 ms) complete before the failure.
            FailOnce failing = new FailOnce(prefix, new Paced(KafkaIo.requestDeserializer(cfg), 2_000_000), n / 2);
            ScoringJob.build(
                    env,
                    cfg,
                    KafkaIo.requests(cfg, true, failing),
                    KafkaIo.models(cfg),
                    KafkaIo.scores(cfg, prefix),
                    KafkaIo.deadLetters(cfg, prefix));
            JobClient job = env.executeAsync(prefix);
            jobs.add(job);
            // No model yet: every request waits, in state, across the failure.
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (!FailOnce.failed(prefix) && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertTrue(FailOnce.failed(prefix), "the job failed once");
            MmoeModel model = MmoeModel.create(SPEC, 3, DataType.FLOAT);
            byte[] v1 = full(model, 1, System.currentTimeMillis());
            publish(p, cfg.string(Key.TOPIC_MODEL), v1, 1, Snapshots.FULL);
            job.getJobExecutionResult().get(120, TimeUnit.SECONDS);
            SnapshotState s = state(v1);
            Map<String, Integer> count = new HashMap<>();
            for (JsonNode score : scores(cfg, n)) {
                String id = score.get("request_id").asText();
                count.merge(id, 1, Integer::sum);
                assertEquals(1, score.get("model_version").asLong());
                assertEquals(
                        predict(s, features(Integer.parseInt(id.substring(1))))[0],
                        score.get("ctr").asDouble(),
                        1e-6);
            }
            assertEquals(n, count.size(), "every request answered");
            if (delivery.equals("exactly-once")) {
                assertTrue(count.values().stream().allMatch(c -> c == 1), "exactly one score per request");
            }
        }
    }

    /**
     * Corrupted records on the model topic (garbage bytes, an unreadable header, missing headers, a
     * missing chunk, a delta whose base is unknown) are reported with their offsets and never stop
     * the job; the last good version keeps serving until the next good one.
     */
    @Test
    void corruptModelRecordsAreReportedAndTheLastGoodVersionServes() throws Exception {
        JobConfig cfg = config("corrupt", Map.of());
        String topic = cfg.string(Key.TOPIC_MODEL);
        String requestTopic = cfg.string(Key.TOPIC_SCORE_REQUESTS);
        MmoeModel model = MmoeModel.create(SPEC, 4, DataType.FLOAT);
        byte[] v1 = full(model, 1, System.currentTimeMillis());
        JobClient job = start(cfg, "corrupt");
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            publish(p, topic, v1, 1, Snapshots.FULL);
            byte[] garbage = new byte[5000];
            new java.util.Random(1).nextBytes(garbage);
            raw(
                    p,
                    topic,
                    garbage,
                    ModelRecords.FORMAT,
                    "safetensors",
                    ModelRecords.MODEL,
                    "m1",
                    ModelRecords.VERSION,
                    "2",
                    ModelRecords.KIND,
                    "full",
                    ModelRecords.CHUNK,
                    "0/1");
            raw(
                    p,
                    topic,
                    v1,
                    ModelRecords.FORMAT,
                    "safetensors",
                    ModelRecords.MODEL,
                    "m1",
                    ModelRecords.VERSION,
                    "two",
                    ModelRecords.KIND,
                    "full",
                    ModelRecords.CHUNK,
                    "0/1");
            raw(p, topic, v1, ModelRecords.MODEL, "m1");
            List<ModelChunk> v3 =
                    ModelChunk.split("m1", 3, Snapshots.FULL, full(model, 3, System.currentTimeMillis()), 600);
            assertTrue(v3.size() >= 3);
            for (ModelChunk c : v3) {
                if (c.chunk == 0 || c.chunk == 2) {
                    ProducerRecord<byte[], byte[]> r = new ModelRecords(topic).serialize(c, null, null);
                    p.send(new ProducerRecord<>(
                            topic,
                            null,
                            null,
                            r.key(),
                            r.value(),
                            new RecordHeaders(r.headers().toArray())));
                }
            }
            int[][] none = new int[SPEC.features().sparse().size()][0];
            byte[] orphanDelta = Snapshots.delta(
                    model,
                    new Snapshots.Meta("m1", 4, Snapshots.DELTA, 99, 0, System.currentTimeMillis(), "{}"),
                    none,
                    Snapshots.tablesOf(model));
            publish(p, topic, orphanDelta, 4, Snapshots.DELTA);
            Thread.sleep(2000);
            for (int i = 0; i < 20; i++) {
                send(p, requestTopic, request("a" + i, "m1", features(i)));
            }
            p.flush();
            assertEquals(20, scores(cfg, 20).size());
            // A good version after the bad ones is served.
            model.trainStep(TestSpecs.batch(SPEC, 32, 5));
            byte[] v5 = full(model, 5, System.currentTimeMillis());
            publish(p, topic, v5, 5, Snapshots.FULL);
            Thread.sleep(2000);
            for (int i = 0; i < 20; i++) {
                send(p, requestTopic, request("b" + i, "m1", features(i)));
            }
            p.flush();
            List<JsonNode> scores = scores(cfg, 40);
            assertEquals(JobStatus.RUNNING, job.getJobStatus().get());
            job.cancel().get();
            Map<Long, SnapshotState> good = Map.of(1L, state(v1), 5L, state(v5));
            assertEquals(40, scores.size());
            for (JsonNode s : scores) {
                String id = s.get("request_id").asText();
                long version = s.get("model_version").asLong();
                assertEquals(id.startsWith("a") ? 1 : 5, version, id);
                assertEquals(
                        predict(good.get(version), features(Integer.parseInt(id.substring(1))))[0],
                        s.get("ctr").asDouble(),
                        1e-6);
            }
        }
        // What a reader of the topic reports, with where it found each problem.
        try (ModelReader reader = new ModelReader(KAFKA.bootstrapServers(), topic, null, new Properties())) {
            reader.pollUntilQuiet(Duration.ofSeconds(2), Duration.ofSeconds(30));
            List<String> reasons = reader.rejected().stream()
                    .map(ModelReader.Rejected::toString)
                    .toList();
            assertEquals(
                    List.of(1L, 5L),
                    reader.versions().stream().map(ModelReader.Version::version).toList());
            int chunks1 = ModelChunk.split("m1", 1, Snapshots.FULL, v1, 600).size();
            assertTrue(
                    reasons.get(0)
                            .startsWith(
                                    topic + "/0@" + chunks1 + ": version 2 of model 'm1' is not a readable snapshot"),
                    reasons.toString());
            assertTrue(reasons.get(1).contains("header mmoe.version is not a number: 'two'"), reasons.toString());
            assertTrue(reasons.get(2).contains("lacks header mmoe.version"), reasons.toString());
            assertTrue(
                    reasons.get(3).contains("chunk 2/")
                            && reasons.get(3).contains("does not follow chunk 0 of version 3"),
                    reasons.toString());
            assertTrue(reasons.get(4).contains("version 3 of model 'm1' is incomplete"), reasons.toString());
            assertTrue(
                    reasons.get(5).contains("delta version 4 of model 'm1' does not follow version 1"),
                    reasons.toString());
            assertEquals(6, reasons.size(), reasons.toString());
        }
    }

    /** A version older than scoring.max-model-age scores with stale = true. */
    @Test
    void scoresOfAnOldVersionAreStale() throws Exception {
        JobConfig cfg = config("stale", Map.of(Key.SCORING_MAX_MODEL_AGE.yaml(), "10 min"));
        MmoeModel model = MmoeModel.create(SPEC, 6, DataType.FLOAT);
        JobClient job = start(cfg, "stale");
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            publish(
                    p,
                    cfg.string(Key.TOPIC_MODEL),
                    full(model, 1, System.currentTimeMillis() - 3_600_000L),
                    1,
                    Snapshots.FULL);
            for (int i = 0; i < 10; i++) {
                send(p, cfg.string(Key.TOPIC_SCORE_REQUESTS), request("x" + i, "m1", features(i)));
            }
            p.flush();
            List<JsonNode> scores = scores(cfg, 10);
            job.cancel().get();
            assertEquals(10, scores.size());
            assertTrue(scores.stream().allMatch(s -> s.get("stale").asBoolean()), "an hour-old version is stale");
        }
    }

    /** A model of the census spec is scored with its own heads, by name. */
    @Test
    void scoresCarryTheSpecsHeads() throws Exception {
        ModelSpec census = SpecLoader.load(Path.of("examples/census-income.yaml"));
        JobConfig cfg = config("census", Map.of());
        MmoeModel model = MmoeModel.create(census, 7, DataType.FLOAT);
        byte[] v1 = full(model, 1, System.currentTimeMillis());
        String features =
                "{\"class_worker\":\"Private\",\"age\":41,\"wage_per_hour\":0,\"sex\":\"Female\",\"weeks_worked\":52}";
        JobClient job = start(cfg, "census");
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            publish(p, cfg.string(Key.TOPIC_MODEL), v1, 1, Snapshots.FULL);
            send(p, cfg.string(Key.TOPIC_SCORE_REQUESTS), request("c1", "m1", features));
            p.flush();
            List<JsonNode> scores = scores(cfg, 1);
            job.cancel().get();
            assertEquals(1, scores.size());
            JsonNode s = scores.get(0);
            double[] expected = predict(state(v1), features);
            assertTrue(
                    Double.isFinite(expected[0]) && Double.isFinite(expected[1]),
                    "a missing standardized value enters as 0");
            assertEquals(expected[0], s.get("income").asDouble(), 1e-6);
            assertEquals(expected[1], s.get("marital").asDouble(), 1e-6);
            assertNull(s.get("ctr"), "no head the spec does not have");
        }
    }
}
