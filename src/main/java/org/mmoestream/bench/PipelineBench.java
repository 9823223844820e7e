package org.mmoestream.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import org.HdrHistogram.Histogram;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.job.Environments;
import org.mmoestream.job.KafkaIo;
import org.mmoestream.job.PipelineJob;
import org.mmoestream.local.EmbeddedKafka;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.TaskSpec;
import org.mmoestream.model.codec.Safetensors;
import org.mmoestream.publish.ChunkAssembler;
import org.mmoestream.publish.ModelChunk;
import org.mmoestream.publish.ModelRecords;

/**
 * Sustained labeled examples per second through Kafka -> join -> train -> publish on the
 * reference shape (two models), from a backlog on an embedded broker, at parallelism 1 and 2; and
 * freshness: for every example, the time from the join making its labels final to the moment a
 * read_committed consumer sees the first version trained on it (so the checkpoint that commits
 * the version is included).
 */
public final class PipelineBench {
    private final int impressions;
    private final int trainParallelism;
    private final PrintStream out;

    /** {@code trainParallelism}: the job's {@code train.parallelism} (1: one trainer per model). */
    public PipelineBench(int impressions, int trainParallelism, PrintStream out) {
        this.impressions = impressions;
        this.out = out;
        this.trainParallelism = trainParallelism;
    }

    private int trainThreads = 1;

    /** The job's {@code train.threads} (figures named {@code ...threads<T>} when above 1). */
    public PipelineBench withTrainThreads(int threads) {
        this.trainThreads = threads;
        return this;
    }

    /**
     * The figures' name prefix: {@code pipeline.parallelism<p>}, with {@code .train<N>} when train.parallelism
     * is N > 1 and {@code .threads<T>} when train.threads is T > 1.
     */
    private String name(String kind, int p) {
        return "pipeline." + kind + "parallelism" + p + (trainParallelism > 1 ? ".train" + trainParallelism : "")
                + (trainThreads > 1 ? ".threads" + trainThreads : "");
    }

    /** The reference shape with the streaming tasks ctr/cvr (ESMM). */
    static ModelSpec spec() {
        ModelSpec ref = ModelBench.referenceSpec();
        return new ModelSpec(
                "reference",
                ref.features(),
                List.of(TaskSpec.binary("ctr", "click", null), TaskSpec.binary("cvr", "conversion", "ctr")),
                ref.architecture().withEsmm(true),
                ref.optimizer(),
                ref.csv());
    }

    public void run(int[] parallelisms) throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            for (int p : parallelisms) {
                String run = "p" + p;
                StreamExecutionEnvironment env = job(
                        kafka,
                        run,
                        p,
                        true,
                        Map.of(Key.CLICK_WINDOW.yaml(), "30 s", Key.CONVERSION_WINDOW.yaml(), "60 s"));
                produce(kafka.bootstrapServers(), run);
                Histogram freshness = new Histogram(3_600_000L, 2);
                Map<String, long[]> span = new java.util.concurrent.ConcurrentHashMap<>();
                AtomicBoolean stop = new AtomicBoolean();
                Thread watcher = new Thread(
                        () -> watch(kafka.bootstrapServers(), run + "-model", freshness, span, stop), "model-watcher");
                watcher.start();
                long t0 = System.nanoTime();
                env.execute("pipeline-bench-" + run);
                double secs = (System.nanoTime() - t0) / 1e9;
                Thread.sleep(3000);
                stop.set(true);
                watcher.join();
                // Throughput counts what was trained (each model's last version's examples_seen), not what was written.
                long trained = span.values().stream().mapToLong(v -> v[3]).sum();
                if (trained != impressions) {
                    throw new IllegalStateException("pipeline bench: the last versions trained " + trained + " of the "
                            + impressions + " impressions written; no rate is reported for a run that lost examples");
                }
                out.printf(Locale.ROOT, "%s.examples %d examples%n", name("", p), impressions);
                out.printf(Locale.ROOT, "%s.examples_trained %d examples%n", name("", p), trained);
                out.printf(Locale.ROOT, "%s.examples_per_second %.0f examples/s%n", name("", p), trained / secs);
                // Steady state: examples trained between each model's first and last version, over that time.
                out.printf(Locale.ROOT, "%s.steady_examples_per_second %.0f examples/s%n", name("", p), rate(span));
                out.printf(Locale.ROOT, "%s.freshness_p50 %d ms%n", name("", p), freshness.getValueAtPercentile(50));
                out.printf(Locale.ROOT, "%s.freshness_p99 %d ms%n", name("", p), freshness.getValueAtPercentile(99));
                out.printf(Locale.ROOT, "%s.freshness_examples %d examples%n", name("", p), freshness.getTotalCount());
            }
        }
    }

    /**
     * Adds, per committed version, its label-to-version histogram shifted by the commit delay; keeps
     * per model {first created_at, its examples_seen, last created_at, its examples_seen} in {@code span}.
     */
    private static void watch(
            String bootstrap, String topic, Histogram into, Map<String, long[]> span, AtomicBoolean stop) {
        watch(bootstrap, topic, into, null, span, stop, created -> true);
    }

    /**
     * As above, for the versions whose creation time {@code counted} accepts; {@code ages}, when not
     * null, also gets their label-age histograms (from the event time the labels became final)
     * shifted by the commit delay.
     */
    private static void watch(
            String bootstrap,
            String topic,
            Histogram into,
            Histogram ages,
            Map<String, long[]> span,
            AtomicBoolean stop,
            java.util.function.LongPredicate counted) {
        Properties c = new Properties();
        c.put("bootstrap.servers", bootstrap);
        c.put("group.id", "bench-watch-" + topic);
        c.put("auto.offset.reset", "earliest");
        c.put("isolation.level", "read_committed");
        c.put("max.partition.fetch.bytes", String.valueOf(16 * 1024 * 1024));
        ObjectMapper json = new ObjectMapper();
        try (KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(c, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.subscribe(List.of(topic));
            ChunkAssembler chunks = new ChunkAssembler();
            while (!stop.get()) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                    long seen = System.currentTimeMillis();
                    ModelChunk chunk = ModelRecords.chunkOf(r);
                    byte[] snapshot = chunk == null ? null : chunks.add(chunk);
                    if (snapshot != null) {
                        Map<String, String> md = Safetensors.read(snapshot).metadata();
                        long created = Long.parseLong(md.get("created_at"));
                        if (!counted.test(created)) {
                            continue;
                        }
                        long examples = Long.parseLong(md.get("examples_seen"));
                        span.merge(md.get("model"), new long[] {created, examples, created, examples}, (a, b) ->
                                new long[] {a[0], a[1], b[2], b[3]});
                        JsonNode metrics = json.readTree(md.get("metrics"));
                        long delay = Math.max(0, seen - created);
                        addShifted(into, metrics.get("freshness_ms"), delay);
                        if (ages != null && metrics.has("label_age_ms")) {
                            addShifted(ages, metrics.get("label_age_ms"), delay);
                        }
                    }
                }
            }
        } catch (Exception e) {
            throw new IllegalStateException("watching " + topic + " failed", e);
        }
    }

    /** Adds a version's histogram (JSON {@code n}, with {@code histogram}) to {@code into}, {@code delay} later. */
    private static void addShifted(Histogram into, JsonNode n, long delay) throws java.util.zip.DataFormatException {
        byte[] h = Base64.getDecoder().decode(n.get("histogram").asText());
        Histogram v = Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(h), 0);
        for (var iv : v.recordedValues()) {
            into.recordValueWithCount(
                    Math.min(into.getHighestTrackableValue(), iv.getValueIteratedTo() + delay),
                    iv.getCountAtValueIteratedTo());
        }
    }

    private void produce(String bootstrap, String run) throws Exception {
        SplittableRandom rnd = new SplittableRandom(11);
        long base = System.currentTimeMillis() - 2L * impressions - 3_600_000L;
        Map<String, Object> cfg = Map.of(
                "bootstrap.servers",
                bootstrap,
                "acks",
                "1",
                "linger.ms",
                "20",
                "batch.size",
                String.valueOf(256 * 1024));
        try (KafkaProducer<byte[], byte[]> producer =
                new KafkaProducer<>(cfg, new ByteArraySerializer(), new ByteArraySerializer())) {
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < impressions; i++) {
                String id = "b" + i;
                long ts = base + i * 2L;
                acks.add(send(producer, run + "-impressions", id, impressionJson(sb, rnd, id, ts, i)));
                if (rnd.nextDouble() < 0.25) {
                    long cts = ts + rnd.nextInt(20_000);
                    acks.add(send(producer, run + "-clicks", id, "{\"request_id\":\"" + id + "\",\"ts\":" + cts + "}"));
                    if (rnd.nextDouble() < 0.3) {
                        acks.add(send(
                                producer,
                                run + "-conversions",
                                id,
                                "{\"request_id\":\"" + id + "\",\"ts\":" + (cts + rnd.nextInt(40_000)) + "}"));
                    }
                }
                if (acks.size() > 20_000) {
                    for (Future<RecordMetadata> a : acks) {
                        a.get();
                    }
                    acks.clear();
                }
            }
            for (Future<RecordMetadata> a : acks) {
                a.get();
            }
        }
    }

    /**
     * The pipeline job of run {@code run} (its own topics, created here) at parallelism {@code p}
     * on RocksDB with checkpoints every second and versions every 2 s; {@code settings} adds job keys.
     */
    private StreamExecutionEnvironment job(
            EmbeddedKafka kafka, String run, int p, boolean bounded, Map<String, String> settings) throws Exception {
        Map<String, String> m = new HashMap<>(JobConfig.topicsWithPrefix(run));
        m.put(Key.BOOTSTRAP.yaml(), kafka.bootstrapServers());
        m.put(Key.GROUP_ID.yaml(), "bench-pipeline-" + run);
        m.put(Key.PUBLISH_INTERVAL.yaml(), "2 s");
        m.put(Key.TRAIN_PARALLELISM.yaml(), String.valueOf(trainParallelism));
        m.put(Key.TRAIN_THREADS.yaml(), String.valueOf(trainThreads));
        m.putAll(settings);
        return pipeline(kafka, run, p, JobConfig.of(m), spec(), bounded);
    }

    /**
     * The pipeline job of {@code cfg} for {@code spec} on the topics of run {@code run} (created
     * here), on a local cluster of parallelism {@code p} with RocksDB and checkpoints every second.
     */
    static StreamExecutionEnvironment pipeline(
            EmbeddedKafka kafka, String run, int p, JobConfig cfg, ModelSpec spec, boolean bounded) throws Exception {
        kafka.createTopics(Map.of(
                run + "-impressions",
                2,
                run + "-clicks",
                2,
                run + "-conversions",
                2,
                run + "-dead-letter",
                1,
                run + "-model",
                1,
                run + "-train-sync",
                1));
        StreamExecutionEnvironment env = Environments.localRocksDb(p, "1 s");
        PipelineJob.build(
                env,
                cfg,
                spec,
                KafkaIo.events(cfg, bounded),
                null,
                KafkaIo.deadLetters(cfg, "bench-" + run),
                KafkaIo.modelSink(cfg, "bench-" + run));
        return env;
    }

    /** Examples trained between each model's first and last watched version, per second of that time. */
    private static double rate(Map<String, long[]> span) {
        long first = span.values().stream().mapToLong(v -> v[0]).min().orElse(0);
        long last = span.values().stream().mapToLong(v -> v[2]).max().orElse(0);
        long trained = span.values().stream().mapToLong(v -> v[3] - v[1]).sum();
        return last > first ? trained * 1000.0 / (last - first) : 0.0;
    }

    /** An impression of the reference shape: 26 Zipf-like sparse fields, 13 dense ones, two models. */
    private static String impressionJson(StringBuilder sb, SplittableRandom rnd, String id, long ts, long i) {
        sb.setLength(0);
        sb.append("{\"request_id\":\"")
                .append(id)
                .append("\",\"ts\":")
                .append(ts)
                .append(",\"model\":\"m")
                .append(i % 2)
                .append("\",\"features\":{");
        for (int f = 0; f < 26; f++) {
            int v = (int) Math.min(99_999, Math.floor(Math.pow(1 - rnd.nextDouble(), -5)) - 1);
            sb.append("\"c").append(f).append("\":\"").append(v).append("\",");
        }
        for (int d = 0; d < 13; d++) {
            sb.append("\"i")
                    .append(d)
                    .append("\":")
                    .append(String.format(Locale.ROOT, "%.3f", rnd.nextGaussian()))
                    .append(d < 12 ? "," : "");
        }
        return sb.append("}}").toString();
    }

    /**
     * Freshness below capacity: live impressions at {@code rate} per second for {@code seconds}
     * (event time = wall clock; clicks within 2 s, conversions within 4 s of the click; windows 3 s
     * and 5 s), the job unbounded. Reports, over the versions created after a 15 s warm-up, the
     * examples trained per second (to compare with the offered rate), freshness p50/p99 (from the
     * join's emission) and label age p50/p99 (from the event time the labels became final: with
     * event time = wall clock, this includes the watermark's lag and any queueing before the join).
     */
    public void runPaced(int[] parallelisms, int[] rates, int seconds) throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            for (int p : parallelisms) {
                for (int rate : rates) {
                    String run = "live" + p + "r" + rate;
                    StreamExecutionEnvironment env = job(
                            kafka,
                            run,
                            p,
                            false,
                            Map.of(
                                    Key.CLICK_WINDOW.yaml(),
                                    "3 s",
                                    Key.CONVERSION_WINDOW.yaml(),
                                    "5 s",
                                    Key.OUT_OF_ORDERNESS.yaml(),
                                    "500 ms",
                                    Key.SOURCE_IDLENESS.yaml(),
                                    "2 s"));
                    long start = System.currentTimeMillis();
                    long warm = start + 15_000;
                    long end = start + seconds * 1000L;
                    Histogram freshness = new Histogram(3_600_000L, 2);
                    Histogram ages = new Histogram(3_600_000L, 2);
                    Map<String, long[]> span = new java.util.concurrent.ConcurrentHashMap<>();
                    AtomicBoolean stop = new AtomicBoolean();
                    Thread watcher = new Thread(
                            () -> watch(
                                    kafka.bootstrapServers(),
                                    run + "-model",
                                    freshness,
                                    ages,
                                    span,
                                    stop,
                                    created -> created >= warm && created <= end),
                            "model-watcher");
                    watcher.start();
                    org.apache.flink.core.execution.JobClient job = env.executeAsync("pipeline-bench-" + run);
                    SplittableRandom rnd = new SplittableRandom(11);
                    StringBuilder sb = new StringBuilder();
                    try (org.mmoestream.simulate.EventWriter w = new org.mmoestream.simulate.EventWriter(
                            kafka.bootstrapServers(),
                            run + "-impressions",
                            run + "-clicks",
                            run + "-conversions",
                            new Properties())) {
                        for (long i = 0; ; i++) {
                            long due = start + i * 1000 / rate;
                            if (due >= end) {
                                break;
                            }
                            long wait = due - System.currentTimeMillis();
                            if (wait > 0) {
                                Thread.sleep(wait);
                            }
                            long ts = System.currentTimeMillis();
                            String id = "l" + i;
                            w.send(
                                    ts,
                                    org.mmoestream.simulate.EventWriter.Topic.IMPRESSIONS,
                                    id,
                                    impressionJson(sb, rnd, id, ts, i));
                            if (rnd.nextDouble() < 0.25) {
                                long cts = ts + rnd.nextInt(2_000);
                                w.schedule(
                                        cts,
                                        org.mmoestream.simulate.EventWriter.Topic.CLICKS,
                                        id,
                                        "{\"request_id\":\"" + id + "\",\"ts\":" + cts + "}");
                                if (rnd.nextDouble() < 0.3) {
                                    long vts = cts + rnd.nextInt(4_000);
                                    w.schedule(
                                            vts,
                                            org.mmoestream.simulate.EventWriter.Topic.CONVERSIONS,
                                            id,
                                            "{\"request_id\":\"" + id + "\",\"ts\":" + vts + "}");
                                }
                            }
                        }
                    }
                    Thread.sleep(5_000);
                    stop.set(true);
                    watcher.join();
                    job.cancel().get();
                    String name = name("paced.", p) + ".rate" + rate;
                    out.printf(Locale.ROOT, "%s.offered %d impressions/s%n", name, rate);
                    out.printf(Locale.ROOT, "%s.examples_per_second %.0f examples/s%n", name, rate(span));
                    out.printf(Locale.ROOT, "%s.freshness_p50 %d ms%n", name, freshness.getValueAtPercentile(50));
                    out.printf(Locale.ROOT, "%s.freshness_p99 %d ms%n", name, freshness.getValueAtPercentile(99));
                    out.printf(Locale.ROOT, "%s.freshness_examples %d examples%n", name, freshness.getTotalCount());
                    // From the event time the labels became final: queueing before the join included.
                    out.printf(Locale.ROOT, "%s.label_age_p50 %d ms%n", name, ages.getValueAtPercentile(50));
                    out.printf(Locale.ROOT, "%s.label_age_p99 %d ms%n", name, ages.getValueAtPercentile(99));
                }
            }
        }
    }

    private static Future<RecordMetadata> send(KafkaProducer<byte[], byte[]> p, String topic, String key, String json) {
        return p.send(new ProducerRecord<>(
                topic, key.getBytes(StandardCharsets.UTF_8), json.getBytes(StandardCharsets.UTF_8)));
    }
}
