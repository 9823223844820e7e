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
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.model.Batch;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.Variant;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.model.codec.Snapshots;
import org.mmoestream.publish.ModelChunk;
import org.mmoestream.publish.ModelRecords;
import org.mmoestream.testing.FlinkCluster;
import org.mmoestream.testing.KafkaBroker;
import org.mmoestream.testing.TestSpecs;
import org.mmoestream.testing.TopicReader;
import org.mmoestream.train.ExampleEncoder;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The scoring job on an embedded Kafka broker and a MiniCluster: requests sent before any model
 * exists are scored when the first version arrives; after a new version, later scores carry it;
 * every request gets exactly one score or one dead letter; scores equal the model's own to 1e-6.
 */
class ScoringJobITCase {
  @RegisterExtension
  static final MiniClusterExtension FLINK = FlinkCluster.extension();

  @RegisterExtension
  static final KafkaBroker KAFKA = new KafkaBroker();
  static final ModelSpec SPEC = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());

  private static String features(int i) {
    return "{\"user\":\"u" + (i % 13) + "\",\"item\":\"i" + (i % 7) + "\",\"tags\":[\"t" + (i % 3) + "\"],\"price\":" + i + ",\"age\":30}";
  }

  private static void send(KafkaProducer<byte[], byte[]> p, String topic, String json) {
    p.send(new ProducerRecord<>(topic, json.getBytes(StandardCharsets.UTF_8)));
  }

  private static void publish(KafkaProducer<byte[], byte[]> p, String topic, byte[] snapshot, long version) {
    for (ModelChunk c : ModelChunk.split("m1", version, "full", snapshot, 600)) {
      ProducerRecord<byte[], byte[]> r = new ModelRecords(topic).serialize(c, null, null);
      p.send(new ProducerRecord<>(topic, null, null, r.key(), r.value(), new RecordHeaders(r.headers().toArray())));
    }
    p.flush();
  }

  @Test
  void requestsWaitForTheFirstModelAndScoresCarryTheirVersion() throws Exception {
    Map<String, String> m = new HashMap<>();
    m.put(Key.BOOTSTRAP.yaml(), KAFKA.bootstrapServers());
    m.put(Key.GROUP_ID.yaml(), "scoring-it");
    m.put(Key.TOPIC_SCORE_REQUESTS.yaml(), "s-requests");
    m.put(Key.TOPIC_SCORES.yaml(), "s-scores");
    m.put(Key.TOPIC_MODEL.yaml(), "s-model");
    m.put(Key.TOPIC_DEAD_LETTER.yaml(), "s-dead-letter");
    m.put(Key.SCORING_UNKNOWN_WAIT.yaml(), "2 s");
    JobConfig cfg = JobConfig.of(m);
    KAFKA.createTopics(Map.of("s-requests", 2, "s-scores", 2, "s-model", 1, "s-dead-letter", 1));

    // Two model versions, and what each scores for every request.
    MmoeModel model = MmoeModel.create(SPEC, 9, DataType.FLOAT);
    byte[] v1 = Snapshots.full(model, new Snapshots.Meta("m1", 1, "full", 0, 0, System.currentTimeMillis(), "{}"), Snapshots.tablesOf(model));
    ExampleEncoder enc = new ExampleEncoder(SPEC);
    List<org.mmoestream.feature.EncodedExample> train = new ArrayList<>();
    for (int i = 0; i < 64; i++) {
      train.add(enc.encode(features(i), i % 2, 0));
    }
    model.trainStep(Batch.of(train));
    byte[] v2 = Snapshots.full(model, new Snapshots.Meta("m1", 2, "full", 0, 64, System.currentTimeMillis(), "{}"), Snapshots.tablesOf(model));
    Map<Long, SnapshotState> versions = new HashMap<>();
    for (byte[] b : List.of(v1, v2)) {
      SnapshotState s = new SnapshotState();
      s.apply(b);
      versions.put(s.version(), s);
    }

    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(FlinkCluster.config());
    env.setParallelism(2);
    Properties client = new Properties();
    ScoringJob.build(env, cfg, ScoringJob.kafkaRequests(cfg, false, client), ScoringJob.kafkaModels(cfg, false, client),
        ScoringJob.kafkaScores(cfg, "scoring-it", client), PipelineJob.kafkaDeadLetters(cfg, "scoring-it", client));
    JobClient job = env.executeAsync("scoring-it");
    Set<String> requests = new HashSet<>();
    Set<String> bad = new HashSet<>();
    try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(Map.of("bootstrap.servers", KAFKA.bootstrapServers()),
        new ByteArraySerializer(), new ByteArraySerializer())) {
      long now = System.currentTimeMillis();
      // Before any model: these wait.
      for (int i = 0; i < 50; i++) {
        send(p, "s-requests", "{\"request_id\":\"early" + i + "\",\"ts\":" + now + ",\"model\":\"m1\",\"features\":" + features(i) + "}");
        requests.add("early" + i);
      }
      // An unknown model, bad features, and a malformed record: dead letters.
      send(p, "s-requests", "{\"request_id\":\"nomodel\",\"ts\":" + now + ",\"model\":\"m9\",\"features\":" + features(1) + "}");
      send(p, "s-requests", "{\"request_id\":\"badprice\",\"ts\":" + now + ",\"model\":\"m1\",\"features\":{\"price\":\"cheap\"}}");
      send(p, "s-requests", "{\"ts\":" + now + "}");
      bad.addAll(List.of("nomodel", "badprice"));
      p.flush();
      Thread.sleep(1500);
      publish(p, "s-model", v1, 1);
      List<ConsumerRecord<byte[], byte[]>> first = TopicReader.readAll(KAFKA.bootstrapServers(), "s-scores", 50,
          Duration.ofSeconds(60), Duration.ofMillis(500));
      assertTrue(first.size() >= 50, "the early requests are scored once the model arrives: " + first.size());
      publish(p, "s-model", v2, 2);
      Thread.sleep(3000);
      for (int i = 0; i < 50; i++) {
        send(p, "s-requests", "{\"request_id\":\"late" + i + "\",\"ts\":" + now + ",\"model\":\"m1\",\"features\":" + features(i) + "}");
        requests.add("late" + i);
      }
      p.flush();
    }
    List<ConsumerRecord<byte[], byte[]>> scores = TopicReader.readAll(KAFKA.bootstrapServers(), "s-scores", 100,
        Duration.ofSeconds(60), Duration.ofSeconds(3));
    List<ConsumerRecord<byte[], byte[]>> dead = TopicReader.readAll(KAFKA.bootstrapServers(), "s-dead-letter", 3,
        Duration.ofSeconds(60), Duration.ofSeconds(3));
    job.cancel().get();

    ObjectMapper json = new ObjectMapper();
    Set<String> scored = new HashSet<>();
    for (ConsumerRecord<byte[], byte[]> r : scores) {
      JsonNode s = json.readTree(r.value());
      String id = s.get("request_id").asText();
      assertTrue(scored.add(id), "one score per request: " + id);
      long version = s.get("model_version").asLong();
      if (id.startsWith("early")) {
        assertEquals(1, version, id);
      } else {
        assertEquals(2, version, "a request after version 2 is scored with it: " + id);
      }
      int i = Integer.parseInt(id.replaceAll("\\D", ""));
      double[][] expected = versions.get(version).model().predict(Batch.of(List.of(enc.encodeFeatures(features(i), null))));
      assertEquals(expected[0][0], s.get("ctr").asDouble(), 1e-6, id);
      assertEquals(expected[1][0], s.get("cvr").asDouble(), 1e-6, id);
      assertEquals(expected[2][0], s.get("ctcvr").asDouble(), 1e-6, id);
      assertFalse(s.get("stale").asBoolean());
    }
    assertEquals(requests, scored, "every valid request scored exactly once");
    assertEquals(3, dead.size(), "unknown model, bad features, malformed: one dead letter each");
    Set<String> reasons = new HashSet<>();
    for (ConsumerRecord<byte[], byte[]> r : dead) {
      reasons.add(json.readTree(r.value()).get("reason").asText());
    }
    assertTrue(reasons.stream().anyMatch(x -> x.contains("unknown model 'm9'")), reasons.toString());
    assertTrue(reasons.stream().anyMatch(x -> x.contains("price")), reasons.toString());
    assertTrue(reasons.stream().anyMatch(x -> x.contains("lacks request_id")), reasons.toString());
  }
}
