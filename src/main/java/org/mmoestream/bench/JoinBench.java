package org.mmoestream.bench;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.concurrent.Future;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.job.Environments;
import org.mmoestream.job.KafkaIo;
import org.mmoestream.job.PipelineJob;
import org.mmoestream.local.EmbeddedKafka;

/**
 * Label-join throughput: events already on an embedded Kafka broker, read by the bounded pipeline
 * (Kafka source -> validation -> join -> exactly-once Kafka sinks) on a local Flink cluster with
 * RocksDB and checkpoints every second, at parallelism 1 and 2. Events per second is the number of
 * events over the job's wall time (start-up included). The state per pending request is measured
 * with the join's own serializers: value, key and timer as RocksDB stores them, before compression.
 */
public final class JoinBench {
    private final int impressions;
    private final PrintStream out;

    public JoinBench(int impressions, PrintStream out) {
        this.impressions = impressions;
        this.out = out;
    }

    public void run(int[] parallelisms) throws Exception {
        stateSize();
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            for (int p : parallelisms) {
                String run = "p" + p;
                Map<String, String> m = new HashMap<>(JobConfig.topicsWithPrefix(run));
                m.put(Key.BOOTSTRAP.yaml(), kafka.bootstrapServers());
                m.put(Key.GROUP_ID.yaml(), "bench-" + run);
                m.put(Key.CLICK_WINDOW.yaml(), "60 s");
                m.put(Key.CONVERSION_WINDOW.yaml(), "120 s");
                JobConfig cfg = JobConfig.of(m);
                kafka.createTopics(Map.of(
                        run + "-impressions",
                        2,
                        run + "-clicks",
                        2,
                        run + "-conversions",
                        2,
                        run + "-examples",
                        2,
                        run + "-dead-letter",
                        1));
                long events = produce(kafka.bootstrapServers(), run);
                StreamExecutionEnvironment env = Environments.localRocksDb(p, "1 s");
                Properties client = new Properties();
                PipelineJob.buildJoin(
                        env,
                        cfg,
                        KafkaIo.events(cfg, true),
                        KafkaIo.examples(cfg, "bench-" + run),
                        KafkaIo.deadLetters(cfg, "bench-" + run));
                long t0 = System.nanoTime();
                env.execute("join-bench-" + run);
                double secs = (System.nanoTime() - t0) / 1e9;
                out.printf(Locale.ROOT, "join.parallelism%d.events %d events%n", p, events);
                out.printf(Locale.ROOT, "join.parallelism%d.events_per_second %.0f events/s%n", p, events / secs);
            }
        }
    }

    /** Writes the events of {@code impressions} requests; returns how many. */
    private long produce(String bootstrap, String run) throws Exception {
        SplittableRandom rnd = new SplittableRandom(5);
        long base = System.currentTimeMillis() - 86_400_000L;
        long n = 0;
        Map<String, Object> cfg = new HashMap<>(Map.of(
                "bootstrap.servers",
                bootstrap,
                "acks",
                "1",
                "linger.ms",
                "20",
                "batch.size",
                String.valueOf(256 * 1024)));
        try (KafkaProducer<byte[], byte[]> producer =
                new KafkaProducer<>(cfg, new ByteArraySerializer(), new ByteArraySerializer())) {
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            for (int i = 0; i < impressions; i++) {
                String id = "q" + i;
                long ts = base + i * 10L;
                n += send(
                        producer,
                        acks,
                        run + "-impressions",
                        id,
                        "{\"request_id\":\"" + id + "\",\"ts\":" + ts
                                + ",\"features\":{\"user\":\"u" + rnd.nextInt(10_000) + "\",\"item\":\"i"
                                + rnd.nextInt(50_000)
                                + "\",\"price\":" + rnd.nextInt(1000) + "}}");
                if (rnd.nextDouble() < 0.25) {
                    long cts = ts + rnd.nextInt(50_000);
                    n += send(
                            producer, acks, run + "-clicks", id, "{\"request_id\":\"" + id + "\",\"ts\":" + cts + "}");
                    if (rnd.nextDouble() < 0.3) {
                        n += send(
                                producer,
                                acks,
                                run + "-conversions",
                                id,
                                "{\"request_id\":\"" + id + "\",\"ts\":" + (cts + rnd.nextInt(100_000)) + "}");
                    }
                }
                if (acks.size() > 50_000) {
                    for (Future<RecordMetadata> f : acks) {
                        f.get();
                    }
                    acks.clear();
                }
            }
            for (Future<RecordMetadata> f : acks) {
                f.get();
            }
        }
        return n;
    }

    private static int send(
            KafkaProducer<byte[], byte[]> p, List<Future<RecordMetadata>> acks, String topic, String key, String json) {
        acks.add(p.send(new ProducerRecord<>(
                topic, key.getBytes(StandardCharsets.UTF_8), json.getBytes(StandardCharsets.UTF_8))));
        return 1;
    }

    /**
     * Bytes one pending request takes in RocksDB, measured ({@link JoinStateSize}) for each
     * {@code join.feedback} mode, with the default windows.
     */
    private void stateSize() throws Exception {
        for (org.mmoestream.join.Feedback f : org.mmoestream.join.Feedback.values()) {
            var policy = new org.mmoestream.join.AttributionPolicy(1_800_000, 86_400_000, 300_000, 600_000, true, f, 0);
            out.printf(
                    Locale.ROOT,
                    "join.state.%s.bytes_per_pending_request %.1f bytes%n",
                    f,
                    JoinStateSize.bytesPerPendingRequest(policy, 200_000));
        }
    }
}
