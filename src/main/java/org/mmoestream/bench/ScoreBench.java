package org.mmoestream.bench;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import org.HdrHistogram.Histogram;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.job.Environments;
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
 * Scoring on the reference shape: the in-process {@link Scorer} (requests/s and per-call latency
 * at batch 1 and 256, one thread), and the scoring job under open-loop load through Kafka (see
 * {@link OpenLoopLoad}): per parallelism, the first 20 s after the job has loaded its model (cold),
 * then each fixed rate, then rising rates until the p99 passes 100 ms.
 */
public final class ScoreBench {
    /** The p99 bound of the highest-rate search. */
    static final long P99_BOUND_MS = 100;

    private static final int[] SEARCH = {1_000, 2_000, 5_000, 10_000, 15_000, 20_000, 25_000, 30_000, 40_000, 50_000};

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
            sb.append("\"i")
                    .append(d)
                    .append("\":")
                    .append(String.format(Locale.ROOT, "%.3f", rnd.nextGaussian()))
                    .append(d < 12 ? "," : "}");
        }
        return sb.toString();
    }

    /** Runs the in-process figures, then the job's at each parallelism and rate. */
    public void run(int[] parallelisms, int[] rates, boolean search) throws Exception {
        ModelSpec spec = PipelineBench.spec();
        MmoeModel model = MmoeModel.create(spec, 1, DataType.FLOAT);
        byte[] snapshot = Snapshots.full(
                model,
                new Snapshots.Meta("m1", 1, Snapshots.FULL, 0, 0, System.currentTimeMillis(), "{}"),
                Snapshots.tablesOf(model));
        SplittableRandom rnd = new SplittableRandom(3);
        List<String> requests = new ArrayList<>();
        for (int i = 0; i < 4096; i++) {
            requests.add(features(rnd));
        }
        inProcess(snapshot, requests);
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            for (int p : parallelisms) {
                throughKafka(kafka, p, snapshot, requests, rates, search);
            }
        }
    }

    private void inProcess(byte[] snapshot, List<String> requests) throws Exception {
        Path file = Files.createTempFile("mmoe-bench-", ".safetensors");
        Files.write(file, snapshot);
        try (Scorer scorer = Scorer.fromSnapshot(file)) {
            for (int batch : new int[] {1, 256}) {
                Histogram lat = new Histogram(60_000_000_000L, 2);
                long t0 = System.nanoTime();
                long warm = t0 + (long) (Math.min(seconds, 6) / 3 * 1e9);
                long end = t0 + (long) (Math.min(seconds, 6) * 1e9);
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
                out.printf(
                        Locale.ROOT,
                        "score.scorer.batch%d.latency_p50 %.3f ms%n",
                        batch,
                        lat.getValueAtPercentile(50) / 1e6);
                out.printf(
                        Locale.ROOT,
                        "score.scorer.batch%d.latency_p99 %.3f ms%n",
                        batch,
                        lat.getValueAtPercentile(99) / 1e6);
            }
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /** One scoring job at parallelism {@code p}: cold start, the fixed rates, then the search. */
    private void throughKafka(
            EmbeddedKafka kafka, int p, byte[] snapshot, List<String> requests, int[] rates, boolean search)
            throws Exception {
        String run = "p" + p;
        Map<String, String> m = new HashMap<>(JobConfig.topicsWithPrefix(run));
        m.put(Key.BOOTSTRAP.yaml(), kafka.bootstrapServers());
        m.put(Key.GROUP_ID.yaml(), "bench-score-" + run);
        JobConfig cfg = JobConfig.of(m);
        String requestTopic = cfg.string(Key.TOPIC_SCORE_REQUESTS);
        String modelTopic = cfg.string(Key.TOPIC_MODEL);
        kafka.createTopics(Map.of(
                requestTopic, 2, cfg.string(Key.TOPIC_SCORES), 2, modelTopic, 1, cfg.string(Key.TOPIC_DEAD_LETTER), 1));
        publish(kafka.bootstrapServers(), modelTopic, snapshot);
        StreamExecutionEnvironment env = Environments.localRocksDb(p, "10 s");
        ScoringJob.buildOnKafka(env, cfg, "bench-" + run);
        JobClient job = env.executeAsync("score-bench-" + run);
        try (OpenLoopLoad load = new OpenLoopLoad(kafka.bootstrapServers(), cfg, requests)) {
            // The job has started and loaded its model when it answers one request.
            long ready = load.awaitFirstScore(120_000);
            out.printf(Locale.ROOT, "score.kafka.p%d.start_to_first_score %d ms%n", p, ready);
            report("score.kafka.p" + p + ".cold.rate1000", load, 1_000, 20);
            for (int rate : rates) {
                report("score.kafka.p" + p + ".rate" + rate, load, rate, seconds);
            }
            if (search) {
                int best = 0;
                int failed = 0;
                for (int rate : SEARCH) {
                    if (!within(load, p, rate)) {
                        failed = rate;
                        break;
                    }
                    best = rate;
                }
                // Two halvings of the bracket between the last rate that held and the first that did not.
                for (int i = 0; i < 2 && failed > 0 && failed - best > 1_000; i++) {
                    int mid = (best + failed) / 2 / 500 * 500;
                    if (within(load, p, mid)) {
                        best = mid;
                    } else {
                        failed = mid;
                    }
                }
                out.printf(
                        Locale.ROOT, "score.kafka.p%d.max_rate_p99_under_%dms %d requests/s%n", p, P99_BOUND_MS, best);
            }
        } finally {
            job.cancel().get();
        }
    }

    /** Runs the load at {@code rate}; whether every request was answered with a p99 within the bound. */
    private boolean within(OpenLoopLoad load, int p, int rate) throws InterruptedException {
        OpenLoopLoad.Result r = report("score.kafka.p" + p + ".search.rate" + rate, load, rate, seconds);
        return r.p99() <= P99_BOUND_MS && r.answered() == r.sent();
    }

    /**
     * Runs the load at {@code rate} for {@code secs} and reports it, with where the process's CPU
     * went meanwhile: the scoring job's instances (their task threads and model followers) and
     * everything else in this process (the broker, the load's producer and consumer, the job's
     * Kafka clients, Flink's runtime, JIT and GC), each in cores (CPU seconds per second).
     */
    private OpenLoopLoad.Result report(String name, OpenLoopLoad load, int rate, double secs)
            throws InterruptedException {
        Map<Long, Long> before = jobThreadsCpu();
        long processBefore = processCpu();
        long t0 = System.nanoTime();
        OpenLoopLoad.Result r = load.run(rate, secs);
        double wall = (System.nanoTime() - t0) / 1e9;
        Map<Long, Long> after = jobThreadsCpu();
        long job = 0;
        for (Map.Entry<Long, Long> e : after.entrySet()) {
            job += e.getValue() - before.getOrDefault(e.getKey(), 0L);
        }
        long all = processCpu() - processBefore;
        report(name, r);
        out.printf(Locale.ROOT, "%s.cpu_scoring_job %.2f cores%n", name, job / 1e9 / wall);
        out.printf(Locale.ROOT, "%s.cpu_rest_of_process %.2f cores%n", name, Math.max(0, all - job) / 1e9 / wall);
        out.flush();
        return r;
    }

    /**
     * CPU time (ns) of the scoring job's threads: its task threads (source, scorer and sink chained), their
     * source fetchers, and the model followers.
     */
    private static Map<Long, Long> jobThreadsCpu() {
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        Map<Long, Long> cpu = new HashMap<>();
        for (java.lang.management.ThreadInfo t : mx.getThreadInfo(mx.getAllThreadIds())) {
            if (t != null
                    && (t.getThreadName().contains("score-requests")
                            || t.getThreadName().startsWith("mmoe-model-follower"))) {
                long ns = mx.getThreadCpuTime(t.getThreadId());
                if (ns > 0) {
                    cpu.put(t.getThreadId(), ns);
                }
            }
        }
        return cpu;
    }

    private static long processCpu() {
        return ((com.sun.management.OperatingSystemMXBean)
                        java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    private void report(String name, OpenLoopLoad.Result r) {
        out.printf(Locale.ROOT, "%s.sent %d requests%n", name, r.sent());
        out.printf(Locale.ROOT, "%s.answered %d requests%n", name, r.answered());
        out.printf(Locale.ROOT, "%s.dead_lettered %d requests%n", name, r.deadLettered());
        out.printf(Locale.ROOT, "%s.missing %d requests%n", name, r.missing());
        out.printf(Locale.ROOT, "%s.latency_p50 %d ms%n", name, r.p50());
        out.printf(Locale.ROOT, "%s.latency_p99 %d ms%n", name, r.p99());
        out.printf(Locale.ROOT, "%s.latency_max %d ms%n", name, r.max());
        out.flush();
    }

    private static void publish(String bootstrap, String topic, byte[] snapshot) {
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(
                Map.of("bootstrap.servers", bootstrap, "max.request.size", String.valueOf(2 * 1024 * 1024)),
                new ByteArraySerializer(),
                new ByteArraySerializer())) {
            for (ModelChunk c : ModelChunk.split("m1", 1, "full", snapshot, 900_000)) {
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
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
