package org.mmoestream.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.HdrHistogram.Histogram;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.job.PipelineJob;
import org.mmoestream.job.ScoringJob;
import org.mmoestream.local.EmbeddedKafka;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.codec.Snapshots;
import org.mmoestream.publish.ModelChunk;
import org.mmoestream.publish.ModelRecords;
import org.mmoestream.score.Scorer;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Scoring on the reference shape: the in-process {@link Scorer} (requests/s and per-request
 * latency at batch 1 and 256, one thread), and the scoring job end to end (request produced to
 * score consumed, p50/p99) at fixed request rates through an embedded broker.
 */
public final class ScoreBench {
  private final double seconds;
  private final PrintStream out;

  public ScoreBench(double seconds, PrintStream out) {
    this.seconds = seconds;
    this.out = out;
  }

  static String features(SplittableRandom rnd) {
    StringBuilder sb = new StringBuilder("{");
    for (int f = 0; f < 26; f++) {
      int v = (int) Math.min(99_999, Math.floor(Math.pow(1 - rnd.nextDouble(), -5)) - 1);
      sb.append("\"c").append(f).append("\":\"").append(v).append("\",");
    }
    for (int d = 0; d < 13; d++) {
      sb.append("\"i").append(d).append("\":").append(String.format(Locale.ROOT, "%.3f", rnd.nextGaussian())).append(d < 12 ? "," : "}");
    }
    return sb.toString();
  }

  public void run(int[] rates) throws Exception {
    ModelSpec spec = PipelineBench.spec();
    MmoeModel model = MmoeModel.create(spec, 1, DataType.FLOAT);
    byte[] snapshot = Snapshots.full(model, new Snapshots.Meta("m1", 1, Snapshots.FULL, 0, 0, System.currentTimeMillis(), "{}"),
        Snapshots.tablesOf(model));
    Path file = Files.createTempFile("mmoe-bench-", ".safetensors");
    Files.write(file, snapshot);
    SplittableRandom rnd = new SplittableRandom(3);
    List<String> requests = new ArrayList<>();
    for (int i = 0; i < 4096; i++) {
      requests.add(features(rnd));
    }
    try (Scorer scorer = Scorer.fromSnapshot(file)) {
      for (int batch : new int[] {1, 256}) {
        Histogram lat = new Histogram(60_000_000_000L, 2);
        long t0 = System.nanoTime();
        long warm = t0 + (long) (seconds / 3 * 1e9);
        long end = t0 + (long) (seconds * 1e9);
        long n = 0;
        long start = 0;
        int i = 0;
        while (true) {
          long a = System.nanoTime();
          if (a > end) {
            break;
          }
          List<String> b = new ArrayList<>(batch);
          for (int k = 0; k < batch; k++) {
            b.add(requests.get(i++ & 4095));
          }
          scorer.score("m1", b);
          long z = System.nanoTime();
          if (a >= warm) {
            if (start == 0) {
              start = a;
            }
            lat.recordValue(z - a);
            n += batch;
          }
        }
        double rps = n / ((System.nanoTime() - start) / 1e9);
        out.printf(Locale.ROOT, "score.scorer.batch%d.requests_per_second %.0f requests/s%n", batch, rps);
        out.printf(Locale.ROOT, "score.scorer.batch%d.latency_p50 %.3f ms%n", batch, lat.getValueAtPercentile(50) / 1e6);
        out.printf(Locale.ROOT, "score.scorer.batch%d.latency_p99 %.3f ms%n", batch, lat.getValueAtPercentile(99) / 1e6);
      }
    }
    endToEnd(snapshot, requests, rates);
  }

  private void endToEnd(byte[] snapshot, List<String> requests, int[] rates) throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      for (int rate : rates) {
        String run = "r" + rate;
        Map<String, String> m = new HashMap<>(JobConfig.topicsWithPrefix(run));
        m.put(Key.BOOTSTRAP.yaml(), kafka.bootstrapServers());
        m.put(Key.GROUP_ID.yaml(), "bench-score-" + run);
        JobConfig cfg = JobConfig.of(m);
        String requestTopic = cfg.string(Key.TOPIC_SCORE_REQUESTS);
        String scoreTopic = cfg.string(Key.TOPIC_SCORES);
        String modelTopic = cfg.string(Key.TOPIC_MODEL);
        kafka.createTopics(Map.of(requestTopic, 2, scoreTopic, 2, modelTopic, 1, cfg.string(Key.TOPIC_DEAD_LETTER), 1));
        Properties client = new Properties();
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(Map.of("bootstrap.servers", kafka.bootstrapServers(),
            "max.request.size", String.valueOf(2 * 1024 * 1024)), new ByteArraySerializer(), new ByteArraySerializer())) {
          for (ModelChunk c : ModelChunk.split("m1", 1, "full", snapshot, 900_000)) {
            ProducerRecord<byte[], byte[]> r = new ModelRecords(modelTopic).serialize(c, null, null);
            p.send(new ProducerRecord<>(modelTopic, null, null, r.key(), r.value(), new RecordHeaders(r.headers().toArray())));
          }
          p.flush();
          StreamExecutionEnvironment env = org.mmoestream.job.Environments.localRocksDb(1, "10 s");
          ScoringJob.build(env, cfg, ScoringJob.kafkaRequests(cfg, false, client), ScoringJob.kafkaModels(cfg, false, client),
              ScoringJob.kafkaScores(cfg, "bench-" + run, client), PipelineJob.kafkaDeadLetters(cfg, "bench-" + run, client));
          JobClient job = env.executeAsync("score-bench-" + run);
          Map<String, Long> sent = new ConcurrentHashMap<>();
          Histogram lat = new Histogram(600_000L, 2);
          AtomicBoolean stop = new AtomicBoolean();
          Thread reader = new Thread(() -> consume(kafka.bootstrapServers(), scoreTopic, sent, lat, stop));
          reader.start();
          // Warm-up until the first score arrives, then measure at the rate.
          produceAt(p, requestTopic, requests, Math.min(rate, 200), 5, sent, "w");
          long deadline = System.currentTimeMillis() + 60_000;
          while (lat.getTotalCount() == 0 && System.currentTimeMillis() < deadline) {
            Thread.sleep(100);
          }
          lat.reset();
          produceAt(p, requestTopic, requests, rate, seconds, sent, "m");
          Thread.sleep(2000);
          stop.set(true);
          reader.join();
          job.cancel().get();
          out.printf(Locale.ROOT, "score.kafka.rate%d.latency_p50 %d ms%n", rate, lat.getValueAtPercentile(50));
          out.printf(Locale.ROOT, "score.kafka.rate%d.latency_p99 %d ms%n", rate, lat.getValueAtPercentile(99));
          out.printf(Locale.ROOT, "score.kafka.rate%d.scores %d scores%n", rate, lat.getTotalCount());
        }
      }
    }
  }

  private static void produceAt(KafkaProducer<byte[], byte[]> p, String topic, List<String> requests, int rate,
      double seconds, Map<String, Long> sent, String prefix) throws InterruptedException {
    long n = (long) (rate * seconds);
    long start = System.nanoTime();
    for (long i = 0; i < n; i++) {
      long due = start + (long) (i * 1e9 / rate);
      long wait = due - System.nanoTime();
      if (wait > 0) {
        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
      }
      String id = prefix + i;
      sent.put(id, System.currentTimeMillis());
      String json = "{\"request_id\":\"" + id + "\",\"ts\":" + System.currentTimeMillis() + ",\"model\":\"m1\",\"features\":"
          + requests.get((int) (i & 4095)) + "}";
      p.send(new ProducerRecord<>(topic, id.getBytes(StandardCharsets.UTF_8), json.getBytes(StandardCharsets.UTF_8)));
    }
    p.flush();
  }

  private static void consume(String bootstrap, String topic, Map<String, Long> sent, Histogram lat, AtomicBoolean stop) {
    Properties c = new Properties();
    c.put("bootstrap.servers", bootstrap);
    c.put("group.id", "bench-scores-" + topic);
    c.put("auto.offset.reset", "earliest");
    c.put("isolation.level", "read_committed");
    ObjectMapper json = new ObjectMapper();
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(c, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      consumer.subscribe(List.of(topic));
      while (!stop.get()) {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(50))) {
          long now = System.currentTimeMillis();
          String id = json.readTree(r.value()).get("request_id").asText();
          Long t = sent.remove(id);
          if (t != null) {
            lat.recordValue(Math.min(600_000L, now - t));
          }
        }
      }
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
