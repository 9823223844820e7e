package org.mmoestream.bench;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.job.KafkaIo;
import org.mmoestream.job.PipelineJob;
import org.mmoestream.job.ScoringJob;
import org.mmoestream.local.EmbeddedKafka;
import org.mmoestream.local.LocalCluster;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.publish.ModelReader;
import org.mmoestream.simulate.EventWriter;
import org.mmoestream.simulate.Simulator;

/**
 * The pipeline and scoring jobs on the local multi-process cluster ({@code deploy/local-cluster},
 * three TaskManagers) under steady simulated load for {@code minutes}, a TaskManager killed with
 * {@code kill -9} every {@code killEvery} and a new one started in its place. At the end, once the
 * pipeline has caught up, it prints what was written, trained, published and scored, the dead
 * letters, whether the versions are contiguous, and the jobs' checkpointed state and the
 * TaskManagers' heap (every minute, and at 3 minutes against the last minute of load: by then the
 * join's dedup retention, 2 minutes here, and its windows have filled). Not part of {@code mvn verify}.
 */
public final class SoakBench {
    private static final String MODEL = "default";

    private final double minutes;
    private final double killEveryMinutes;
    private final double rate;
    private final double requestRate;
    private final ModelSpec spec;
    private final PrintStream out;

    public SoakBench(
            double minutes, double killEveryMinutes, double rate, double requestRate, ModelSpec spec, PrintStream out) {
        this.minutes = minutes;
        this.killEveryMinutes = killEveryMinutes;
        this.rate = rate;
        this.requestRate = requestRate;
        this.spec = spec;
        this.out = out;
    }

    public void run() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.start();
                LocalCluster cluster = LocalCluster.start(Path.of("target/soak-cluster"), 3)) {
            JobConfig cfg = config(kafka);
            Map<String, Integer> topics = new HashMap<>();
            for (String t : List.of("impressions", "clicks", "conversions", "score-requests", "scores")) {
                topics.put(t, 2);
            }
            topics.put("dead-letter", 1);
            topics.put("model", 1);
            kafka.createTopics(topics);
            JobClient pipeline = submitPipeline(cfg, cluster);
            JobClient scoring = submitScoring(cfg, cluster);
            String pid = pipeline.getJobID().toHexString();
            String sid = scoring.getJobID().toHexString();
            out.printf("soak: jobs %s (pipeline) and %s (scoring) on %s%n", pid, sid, cluster.dir());

            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong impressions = new AtomicLong();
            AtomicLong malformed = new AtomicLong();
            AtomicLong requests = new AtomicLong();
            long total = Math.round(rate * minutes * 60);
            Thread events = new Thread(() -> writeEvents(kafka, total, impressions, malformed), "soak-events");
            Thread scores = new Thread(() -> sendRequests(kafka, stop, requests), "soak-requests");
            long start = System.nanoTime();
            events.start();
            scores.start();

            Random rnd = new Random(1);
            int kills = 0;
            long[] early = null;
            long[] latest = null;
            long nextSample = start + 60_000_000_000L;
            long nextKill = start + (long) (killEveryMinutes * 60e9);
            long end = start + (long) (minutes * 60e9);
            while (System.nanoTime() < end) {
                Thread.sleep(1000);
                if (System.nanoTime() >= nextSample) {
                    long[] sample = stateAndHeap(cluster, pid, sid);
                    if (sample[0] > 0 && sample[1] > 0) { // else no checkpoint or heap metric yet: next second
                        double at = (System.nanoTime() - start) / 60e9;
                        out.printf(
                                Locale.ROOT,
                                "soak: %5.1f min  state %.1f MB  heap %.0f MB  (%,d impressions written)%n",
                                at,
                                sample[0] / 1e6,
                                sample[1] / 1e6,
                                impressions.get());
                        // Level from the dedup retention plus the windows on: the start of the comparison.
                        if (early == null && at >= 3) {
                            early = sample;
                        }
                        latest = sample;
                        nextSample += 60_000_000_000L;
                    }
                }
                if (System.nanoTime() >= nextKill) {
                    List<String> live = cluster.liveTaskManagers();
                    String victim = live.get(rnd.nextInt(live.size()));
                    cluster.killHard(victim);
                    kills++;
                    out.printf(
                            Locale.ROOT,
                            "soak: %5.1f min  kill -9 %s (%,d impressions written)%n",
                            (System.nanoTime() - start) / 60e9,
                            victim,
                            impressions.get());
                    Thread.sleep(5_000);
                    cluster.addTaskManager();
                    nextKill += (long) (killEveryMinutes * 60e9);
                }
            }
            events.join();
            stop.set(true);
            scores.join();
            long written = impressions.get();
            out.printf(
                    Locale.ROOT,
                    "soak: load done after %.1f min; waiting for the pipeline to train the %,d impressions%n",
                    (System.nanoTime() - start) / 60e9,
                    written);
            // The last impressions' labels become final when the watermark passes their windows: a
            // tail of another model's events moves event time on.
            Thread tail = new Thread(() -> writeTail(kafka), "soak-tail");
            tail.start();
            long trained = 0;
            boolean contiguous;
            int versions;
            try (ModelReader reader = new ModelReader(kafka.bootstrapServers(), "model", MODEL, new Properties())) {
                long deadline = System.nanoTime() + 300_000_000_000L;
                while (System.nanoTime() < deadline) {
                    reader.poll(Duration.ofMillis(1000));
                    if (reader.model(MODEL) != null) {
                        trained = reader.model(MODEL).examplesSeen();
                    }
                    if (trained >= written) {
                        reader.pollUntilQuiet(Duration.ofSeconds(5), Duration.ofMinutes(1));
                        trained = reader.model(MODEL).examplesSeen();
                        break;
                    }
                }
                List<ModelReader.Version> vs = reader.versions();
                versions = vs.size();
                contiguous = true;
                for (int i = 0; i < vs.size(); i++) {
                    contiguous &= vs.get(i).version() == i + 1;
                }
            }
            tail.join();
            long[] scored = {0, 0};
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (scored[0] < requests.get() && System.nanoTime() < deadline) {
                scored = scores(kafka);
                Thread.sleep(1000);
            }
            long[] late = latest == null ? new long[] {-1, -1} : latest;
            long deadLetters = kafka.committedRecords("dead-letter");
            pipeline.cancel().get();
            scoring.cancel().get();
            String p = "soak.";
            out.printf(Locale.ROOT, "%sminutes %.1f min%n", p, minutes);
            out.printf(Locale.ROOT, "%skills %d kills%n", p, kills);
            // TaskManagers that went down without being killed (Flink's fatal error after a peer's
            // loss) and that the cluster replaced.
            out.printf(
                    Locale.ROOT,
                    "%staskmanagers_replaced %d taskmanagers%n",
                    p,
                    cluster.replacedTaskManagers().size());
            out.printf(Locale.ROOT, "%simpressions_written %d impressions%n", p, written);
            out.printf(Locale.ROOT, "%sexamples_trained %d examples%n", p, trained);
            out.printf(Locale.ROOT, "%sversions %d versions%n", p, versions);
            out.printf(Locale.ROOT, "%sversions_contiguous %s%n", p, contiguous ? "yes" : "no");
            out.printf(Locale.ROOT, "%srequests %d requests%n", p, requests.get());
            out.printf(Locale.ROOT, "%sscored_requests %d requests%n", p, scored[0]);
            out.printf(Locale.ROOT, "%sscore_records %d records%n", p, scored[1]);
            out.printf(Locale.ROOT, "%smalformed_written %d records%n", p, malformed.get());
            out.printf(Locale.ROOT, "%sdead_letters %d records%n", p, deadLetters);
            out.printf(Locale.ROOT, "%sstate_bytes_start %d bytes%n", p, early == null ? -1 : early[0]);
            out.printf(Locale.ROOT, "%sstate_bytes_end %d bytes%n", p, late[0]);
            out.printf(Locale.ROOT, "%sheap_bytes_start %d bytes%n", p, early == null ? -1 : early[1]);
            out.printf(Locale.ROOT, "%sheap_bytes_end %d bytes%n", p, late[1]);
            out.printf(Locale.ROOT, "%sjob_failures %d failures%n", p, failures(cluster, pid) + failures(cluster, sid));
        }
    }

    private JobConfig config(EmbeddedKafka kafka) {
        Map<String, String> m = new HashMap<>();
        m.put(Key.BOOTSTRAP.yaml(), kafka.bootstrapServers());
        m.put(Key.GROUP_ID.yaml(), "soak");
        m.put(Key.CLICK_WINDOW.yaml(), "10 s");
        m.put(Key.CONVERSION_WINDOW.yaml(), "20 s");
        m.put(Key.PUBLISH_INTERVAL.yaml(), "2 s");
        m.put(Key.SCORING_MAX_MODEL_AGE.yaml(), "0 ms");
        // A finished request is remembered this long to drop duplicates: the join's state grows for as
        // long and then stays level, which a run of some minutes must reach (the default is 10 min).
        m.put(Key.DEDUP_RETENTION.yaml(), "2 min");
        return JobConfig.of(m);
    }

    private JobClient submitPipeline(JobConfig cfg, LocalCluster cluster) throws Exception {
        StreamExecutionEnvironment env = cluster.environment(2, "10 s");
        PipelineJob.build(
                env,
                cfg,
                spec,
                KafkaIo.events(cfg, false),
                null,
                KafkaIo.deadLetters(cfg, "soak"),
                KafkaIo.modelSink(cfg, "soak"));
        return env.executeAsync("soak-pipeline");
    }

    private static JobClient submitScoring(JobConfig cfg, LocalCluster cluster) throws Exception {
        StreamExecutionEnvironment env = cluster.environment(1, "10 s");
        ScoringJob.buildOnKafka(env, cfg, "soak-scoring");
        return env.executeAsync("soak-scoring");
    }

    private void writeEvents(EmbeddedKafka kafka, long n, AtomicLong impressions, AtomicLong malformed) {
        EventWriter w =
                new EventWriter(kafka.bootstrapServers(), "impressions", "clicks", "conversions", new Properties());
        try {
            w.withNoise(new EventWriter.Noise(0.01, 0.001, 1_000, 5));
            w.write(
                    new Simulator(5, 300, 100, 0.5, MODEL),
                    n,
                    rate,
                    3_000,
                    8_000,
                    null,
                    imp -> impressions.incrementAndGet());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            w.close();
            malformed.set(w.malformed());
        }
    }

    /** 60 s of another model's impressions at 50 per second: event time goes on past every window. */
    private static void writeTail(EmbeddedKafka kafka) {
        EventWriter w =
                new EventWriter(kafka.bootstrapServers(), "impressions", "clicks", "conversions", new Properties());
        try {
            w.write(new Simulator(7, 300, 100, 0.5, "soak-tail"), 3_000, 50, 3_000, 8_000, null);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            w.close();
        }
    }

    /**
     * {distinct request ids, records} on the scores topic (read_committed): with the default
     * at-least-once scores, a request scored again after a restore is one request and two records.
     */
    private static long[] scores(EmbeddedKafka kafka) {
        java.util.Set<String> ids = new java.util.HashSet<>();
        long records = kafka.forEachCommitted(
                "scores", Duration.ofSeconds(30), r -> ids.add(new String(r.key(), StandardCharsets.UTF_8)));
        return new long[] {ids.size(), records};
    }

    private void sendRequests(EmbeddedKafka kafka, AtomicBoolean stop, AtomicLong requests) {
        Simulator probe = new Simulator(6, 300, 100, 0.5, MODEL);
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(
                Map.of("bootstrap.servers", kafka.bootstrapServers()),
                new ByteArraySerializer(),
                new ByteArraySerializer())) {
            long start = System.nanoTime();
            for (long i = 0; !stop.get(); i++) {
                long due = start + (long) (i * 1e9 / requestRate);
                long wait = due - System.nanoTime();
                if (wait > 0) {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
                Simulator.Impression imp = probe.next(System.currentTimeMillis(), 1, 1);
                p.send(new ProducerRecord<>(
                        "score-requests",
                        Simulator.requestJson("soak-" + i, imp).getBytes(StandardCharsets.UTF_8)));
                requests.incrementAndGet();
            }
        } catch (Exception e) {
            throw new IllegalStateException("soak: score requests stopped: " + e, e);
        }
    }

    /** {checkpointed state of both jobs' latest completed checkpoints, heap used summed over the TaskManagers}. */
    private static long[] stateAndHeap(LocalCluster cluster, String... jobs) throws Exception {
        long state = 0;
        for (String job : jobs) {
            state += cluster.rest("/jobs/" + job + "/checkpoints")
                    .at("/latest/completed/state_size")
                    .asLong(0);
        }
        long heap = 0;
        for (JsonNode tm : cluster.rest("/taskmanagers").path("taskmanagers")) {
            JsonNode m =
                    cluster.rest("/taskmanagers/" + tm.get("id").asText() + "/metrics?get=Status.JVM.Memory.Heap.Used");
            for (JsonNode v : m) {
                heap += v.path("value").asLong(0);
            }
        }
        return new long[] {state, heap};
    }

    private static long failures(LocalCluster cluster, String job) throws Exception {
        return cluster.rest("/jobs/" + job + "/exceptions")
                .at("/exceptionHistory/entries")
                .size();
    }
}
