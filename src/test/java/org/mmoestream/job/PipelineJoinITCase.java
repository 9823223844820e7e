package org.mmoestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import org.apache.flink.api.common.JobID;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.event.LabeledExample;
import org.mmoestream.event.ParsedRecord;
import org.mmoestream.event.serde.JsonRecords;
import org.mmoestream.testing.EventGenerator;
import org.mmoestream.testing.FailOnce;
import org.mmoestream.testing.FlinkCluster;
import org.mmoestream.testing.KafkaBroker;
import org.mmoestream.testing.Paced;
import org.mmoestream.testing.TopicReader;

/**
 * The label join end to end on a real embedded Kafka broker and a Flink MiniCluster with RocksDB,
 * checkpoints and {@code pipeline.generic-types: false}: 10,000 impressions with clicks and
 * conversions, out of order within the watermark bound, ~1% duplicates and ~1% malformed records.
 * Every impression must yield exactly one example with the generator's labels, and every malformed
 * record must be on the dead-letter topic with a reason; also across a forced failure.
 */
class PipelineJoinITCase {
    private static final int IMPRESSIONS = 10_000;

    @RegisterExtension
    static final MiniClusterExtension FLINK = FlinkCluster.extension();

    @RegisterExtension
    static final KafkaBroker KAFKA = new KafkaBroker();

    /** The test's job configuration for {@code run}, with {@code more} key-value pairs. */
    private static JobConfig config(String run, String... more) {
        Map<String, String> m = new HashMap<>(JobConfig.topicsWithPrefix(run));
        m.put(Key.BOOTSTRAP.yaml(), KAFKA.bootstrapServers());
        m.put(Key.GROUP_ID.yaml(), "pipeline-" + run);
        m.put(Key.CLICK_WINDOW.yaml(), "60 s");
        m.put(Key.CONVERSION_WINDOW.yaml(), "120 s");
        m.put(Key.OUT_OF_ORDERNESS.yaml(), "2 s");
        m.put(Key.ORPHAN_WAIT.yaml(), "10 s");
        for (int i = 0; i < more.length; i += 2) {
            m.put(more[i], more[i + 1]);
        }
        return JobConfig.of(m);
    }

    private static EventGenerator produce(JobConfig cfg, String run) throws Exception {
        KAFKA.createTopics(Map.of(
                cfg.string(Key.TOPIC_IMPRESSIONS),
                2,
                cfg.string(Key.TOPIC_CLICKS),
                2,
                cfg.string(Key.TOPIC_CONVERSIONS),
                2,
                cfg.string(Key.TOPIC_EXAMPLES),
                2,
                cfg.string(Key.TOPIC_DEAD_LETTER),
                1));
        EventGenerator gen =
                new EventGenerator(IMPRESSIONS, System.currentTimeMillis() - 3_600_000L, 60_000, 120_000, 17);
        List<EventGenerator.Rec> renamed = gen.records.stream()
                .map(r -> new EventGenerator.Rec(run + "-" + r.topic(), r.key(), r.value(), r.sortTs(), r.malformed()))
                .toList();
        gen.records.clear();
        gen.records.addAll(renamed);
        gen.send(KAFKA.bootstrapServers());
        return gen;
    }

    private static org.apache.flink.api.common.JobID run(
            JobConfig cfg, String run, KafkaRecordDeserializationSchema<ParsedRecord> deserializer) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(FlinkCluster.config());
        env.setParallelism(2);
        Properties client = new Properties();
        PipelineJob.buildJoin(
                env,
                cfg,
                KafkaIo.events(cfg, true, deserializer),
                KafkaIo.examples(cfg, run + "-tx"),
                KafkaIo.deadLetters(cfg, run + "-tx"));
        return env.execute("pipeline-join-" + run).getJobID();
    }

    private static void verify(JobConfig cfg, EventGenerator gen) throws Exception {
        List<ConsumerRecord<byte[], byte[]>> examples = TopicReader.readAll(
                KAFKA.bootstrapServers(),
                cfg.string(Key.TOPIC_EXAMPLES),
                IMPRESSIONS,
                Duration.ofSeconds(60),
                Duration.ofSeconds(2));
        Map<String, LabeledExample> byId = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : examples) {
            LabeledExample e = JsonRecords.readExample(r.value());
            assertFalse(byId.containsKey(e.requestId), "duplicate example " + e.requestId);
            byId.put(e.requestId, e);
        }
        assertEquals(IMPRESSIONS, examples.size(), "one example per impression");
        int clicks = 0;
        int conversions = 0;
        for (Map.Entry<String, int[]> t : gen.truth.entrySet()) {
            LabeledExample e = byId.get(t.getKey());
            assertTrue(e != null, "example for " + t.getKey());
            assertEquals(t.getValue()[0], e.click, "click of " + t.getKey());
            assertEquals(t.getValue()[1], e.conversion, "conversion of " + t.getKey());
            assertEquals("m1", e.model);
            clicks += e.click;
            conversions += e.conversion;
        }
        assertTrue(clicks > 1_500 && conversions > 300, clicks + " clicks, " + conversions + " conversions");

        List<ConsumerRecord<byte[], byte[]>> dead = TopicReader.readAll(
                KAFKA.bootstrapServers(),
                cfg.string(Key.TOPIC_DEAD_LETTER),
                gen.malformed,
                Duration.ofSeconds(30),
                Duration.ofSeconds(2));
        assertEquals(gen.malformed, dead.size(), "every malformed record, once, on dead-letter");
        ObjectMapper json = new ObjectMapper();
        for (ConsumerRecord<byte[], byte[]> r : dead) {
            JsonNode d = json.readTree(r.value());
            assertFalse(d.get("reason").asText().isEmpty());
            assertFalse(d.path("kind").asText().isEmpty(), "kind of " + d);
            assertTrue(d.get("source_topic").asText().endsWith("impressions")
                    || d.get("source_topic").asText().endsWith("clicks")
                    || d.get("source_topic").asText().endsWith("conversions"));
            assertTrue(d.get("offset").asLong() >= 0);
            assertTrue(d.has("raw"));
        }
    }

    @Test
    void everyImpressionYieldsExactlyOneCorrectExample() throws Exception {
        JobConfig cfg = config("plain");
        EventGenerator gen = produce(cfg, "plain");
        assertTrue(
                gen.malformed >= 100 && gen.duplicates >= 100,
                gen.malformed + " malformed, " + gen.duplicates + " duplicates");
        run(cfg, "plain", PipelineJob.eventDeserializer(cfg));
        verify(cfg, gen);
    }

    /**
     * With {@code join.feedback: es-dfm} (fnw's emissions and a closing one): per impression one
     * observed example, one click example if it was clicked within the window, one conversion
     * example if it converted, else one closing example when its windows closed (no other kinds,
     * none twice), so that the clicks and conversions they carry are the generator's labels.
     */
    private static void verifyEarly(JobConfig cfg, EventGenerator gen) throws Exception {
        boolean matched = cfg.string(Key.FEEDBACK).equals("fnw-matched");
        int clicked = 0;
        int converted = 0;
        for (int[] t : gen.truth.values()) {
            clicked += t[0];
            converted += t[1];
        }
        // es-dfm: observed, click, conversion, closed without one; fnw-matched: two fake negatives, click, conversion.
        int expected = matched
                ? 2 * IMPRESSIONS + clicked + converted
                : IMPRESSIONS + clicked + converted + (IMPRESSIONS - converted);
        List<ConsumerRecord<byte[], byte[]>> examples = TopicReader.readAll(
                KAFKA.bootstrapServers(),
                cfg.string(Key.TOPIC_EXAMPLES),
                expected,
                Duration.ofSeconds(60),
                Duration.ofSeconds(2));
        Map<String, int[]> sent = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : examples) {
            LabeledExample e = JsonRecords.readExample(r.value());
            int[] kinds = sent.computeIfAbsent(e.requestId, k -> new int[LabeledExample.Kind.values().length + 2]);
            kinds[e.kind.ordinal()]++;
            kinds[kinds.length - 2] = Math.max(kinds[kinds.length - 2], e.click);
            kinds[kinds.length - 1] = Math.max(kinds[kinds.length - 1], e.conversion);
        }
        assertEquals(expected, examples.size(), "impressions + clicks + conversions + closed without one");
        for (Map.Entry<String, int[]> t : gen.truth.entrySet()) {
            int[] kinds = sent.get(t.getKey());
            assertTrue(kinds != null, "examples for " + t.getKey());
            assertEquals(0, kinds[LabeledExample.Kind.FINAL.ordinal()], "no final example for " + t.getKey());
            if (matched) {
                assertEquals(
                        1, kinds[LabeledExample.Kind.CLICK_NEGATIVE.ordinal()], "click negative once: " + t.getKey());
                assertEquals(
                        1,
                        kinds[LabeledExample.Kind.CONVERSION_NEGATIVE.ordinal()],
                        "conversion negative once: " + t.getKey());
            } else {
                assertEquals(1, kinds[LabeledExample.Kind.OBSERVED.ordinal()], "observed once: " + t.getKey());
                assertEquals(
                        1 - t.getValue()[1], kinds[LabeledExample.Kind.CLOSED.ordinal()], "closed once: " + t.getKey());
            }
            assertEquals(t.getValue()[0], kinds[kinds.length - 2], "click of " + t.getKey());
            assertEquals(t.getValue()[1], kinds[kinds.length - 1], "conversion of " + t.getKey());
            assertTrue(
                    kinds[LabeledExample.Kind.CLICK.ordinal()] <= 1
                            && kinds[LabeledExample.Kind.CONVERSION.ordinal()] <= 1,
                    "each later kind at most once: " + t.getKey());
        }
    }

    @Test
    void earlyFeedbackAcrossAForcedFailureSendsEachKindOnce(@InjectMiniCluster MiniCluster cluster) throws Exception {
        acrossAForcedFailure(cluster, "esdfm", "es-dfm");
    }

    /**
     * {@code fnw-matched} across a forced failure: the conversion's fake negatives are due at delays
     * drawn from the subtask's recent conversions (operator state), and each kind still leaves once.
     */
    @Test
    void fnwMatchedAcrossAForcedFailureSendsEachKindOnce(@InjectMiniCluster MiniCluster cluster) throws Exception {
        acrossAForcedFailure(cluster, "matched", "fnw-matched");
    }

    /** Runs the join with {@code feedback}, failing once half-way, and checks what it sent. */
    private static void acrossAForcedFailure(MiniCluster cluster, String run, String feedback) throws Exception {
        JobConfig cfg = config(run, Key.FEEDBACK.yaml(), feedback);
        EventGenerator gen = produce(cfg, run);
        JobID job = run(
                cfg,
                run,
                new FailOnce(
                        "join-" + run, new Paced(PipelineJob.eventDeserializer(cfg), 100_000), gen.records.size() / 2));
        assertTrue(FailOnce.failed("join-" + run), "the failure happened");
        assertTrue(FlinkCluster.restoredCheckpoint(cluster, job) > 0, "the job came back from a checkpoint");
        verifyEarly(cfg, gen);
    }

    /**
     * Records no event can be made of, for each event topic: random bytes, valid records cut short,
     * records over events.max-record-bytes, JSON nested 5,000 deep, a wrong type in each field,
     * invalid UTF-8 inside a string, content after the JSON value, an empty value and no value at
     * all (null). Each is one the parser must reject.
     */
    private static List<EventGenerator.Rec> fuzz(String run, long ts) {
        Random rnd = new Random(23);
        List<EventGenerator.Rec> out = new ArrayList<>();
        Map<String, List<String>> wrongTypes = Map.of(
                "impressions",
                List.of(
                        "{\"request_id\":7,\"ts\":%d,\"model\":\"m1\",\"features\":{}}",
                        "{\"request_id\":\"x\",\"ts\":\"%d\",\"model\":\"m1\",\"features\":{}}",
                        "{\"request_id\":\"x\",\"ts\":%d,\"model\":5,\"features\":{}}",
                        "{\"request_id\":\"x\",\"ts\":%d,\"model\":\"m1\",\"features\":[1,2]}",
                        "{\"request_id\":\"x\",\"ts\":%d,\"model\":\"m1\",\"features\":{\"u\":{\"a\":1}}}",
                        "{\"request_id\":\"x\",\"ts\":%d.5e400,\"model\":\"m1\",\"features\":{}}"),
                "clicks",
                List.of(
                        "{\"request_id\":[],\"ts\":%d}",
                        "{\"request_id\":\"x\",\"ts\":true}",
                        "{\"request_id\":\"x\",\"ts\":%d,\"click_id\":{}}",
                        "{\"request_id\":\"\",\"ts\":%d}"),
                "conversions",
                List.of(
                        "{\"request_id\":null,\"ts\":%d}",
                        "{\"request_id\":\"x\",\"ts\":-%d}", "{\"request_id\":\"x\",\"ts\":%d,\"value\":\"ten\"}"));
        for (String topic : List.of("impressions", "clicks", "conversions")) {
            String t = run + "-" + topic;
            String valid = topic.equals("impressions")
                    ? "{\"request_id\":\"fz\",\"ts\":" + ts + ",\"model\":\"m1\",\"features\":{\"user\":\"u1\"}}"
                    : "{\"request_id\":\"fz\",\"ts\":" + ts + "}";
            List<byte[]> values = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                byte[] b = new byte[1 + rnd.nextInt(300)];
                rnd.nextBytes(b);
                b[0] = (byte) (b[0] == '{' ? '[' : b[0]);
                values.add(b);
            }
            for (int i = 0; i < 20; i++) {
                values.add(
                        valid.substring(0, 1 + rnd.nextInt(valid.length() - 1)).getBytes(StandardCharsets.UTF_8));
            }
            values.add(("{\"request_id\":\"" + "x".repeat(70_000) + "\",\"ts\":" + ts + "}")
                    .getBytes(StandardCharsets.UTF_8));
            values.add(
                    ("{\"request_id\":\"x\",\"ts\":" + ts + ",\"deep\":" + "[".repeat(5_000) + "]".repeat(5_000) + "}")
                            .getBytes(StandardCharsets.UTF_8));
            for (String w : wrongTypes.get(topic)) {
                values.add(String.format(java.util.Locale.ROOT, w, ts).getBytes(StandardCharsets.UTF_8));
            }
            byte[] badUtf8 = ("{\"request_id\":\"ab\",\"ts\":" + ts + "}").getBytes(StandardCharsets.UTF_8);
            badUtf8[15] = (byte) 0xC3;
            badUtf8[16] = (byte) 0x28;
            values.add(badUtf8);
            values.add((valid + "}}}").getBytes(StandardCharsets.UTF_8));
            values.add(new byte[0]);
            values.add(null);
            for (byte[] v : values) {
                out.add(new EventGenerator.Rec(t, "fz" + out.size(), v, ts, true));
            }
        }
        return out;
    }

    @Test
    void fuzzedRecordsAllGoToDeadLettersAndTheRestIsJoinedExactly() throws Exception {
        JobConfig cfg = config("fuzz");
        EventGenerator gen = produce(cfg, "fuzz");
        List<EventGenerator.Rec> bad = fuzz("fuzz", System.currentTimeMillis() - 1_800_000L);
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(
                Map.of("bootstrap.servers", KAFKA.bootstrapServers(), "max.request.size", "4194304"),
                new ByteArraySerializer(),
                new ByteArraySerializer())) {
            for (EventGenerator.Rec r : bad) {
                p.send(new ProducerRecord<>(r.topic(), r.key().getBytes(StandardCharsets.UTF_8), r.value()))
                        .get();
            }
        }
        gen.malformed += bad.size();
        run(cfg, "fuzz", PipelineJob.eventDeserializer(cfg));
        verify(cfg, gen);
    }

    @Test
    void forcedFailureLosesAndDuplicatesNothing(@InjectMiniCluster MiniCluster cluster) throws Exception {
        JobConfig cfg = config("failing");
        EventGenerator gen = produce(cfg, "failing");
        JobID job = run(
                cfg,
                "failing",
                new FailOnce("join", new Paced(PipelineJob.eventDeserializer(cfg), 100_000), gen.records.size() / 2));
        assertTrue(FailOnce.failed("join"), "the failure happened");
        assertTrue(FlinkCluster.restoredCheckpoint(cluster, job) > 0, "the job came back from a checkpoint");
        verify(cfg, gen);
    }
}
