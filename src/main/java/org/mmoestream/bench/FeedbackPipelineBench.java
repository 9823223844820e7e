package org.mmoestream.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.join.Feedback;
import org.mmoestream.local.EmbeddedKafka;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.codec.Safetensors;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.publish.ChunkAssembler;
import org.mmoestream.publish.ModelChunk;
import org.mmoestream.publish.ModelRecords;
import org.mmoestream.simulate.DriftingSimulator;
import org.mmoestream.simulate.DriftingSimulator.Impression;

/**
 * {@code bin/mmoe bench feedback --pipeline}: the simulated days of {@link FeedbackBench} through
 * the real system, once per {@code join.feedback} mode: the events go live, in event-time order, to
 * an embedded Kafka broker at {@code hourSeconds} of wall clock per simulated hour, and the pipeline
 * job (join on RocksDB with checkpoints, trainer in arrival order, exactly-once model topic) trains
 * and publishes versions as it would in production. Afterwards every version is read back from the
 * model topic, in order, and each impression of the scored days is scored by the version that was
 * current at its event time: the last one whose {@code trained_up_to_event_time} is not after it
 * (a version that has trained on the stream up to then). The oracle cannot go through a join, so
 * it stays {@link FeedbackBench}'s.
 */
public final class FeedbackPipelineBench {
    private final int warmupDays;
    private final int days;
    private final int perDay;
    private final double hourSeconds;
    private final long observationWindow;
    private final long elapsedWindow;
    private final PrintStream out;
    /** The simulator's and the printout's experiments (README, Fresh labels), read when the bench is made. */
    private final FeedbackExperiments experiments;

    /**
     * @param hourSeconds wall-clock seconds per simulated hour (the job sees the events live)
     * @param observationWindow {@code join.observation-window} of fnw and fnc
     * @param elapsedWindow es-dfm's {@code join.observation-window} (the paper's c)
     */
    public FeedbackPipelineBench(
            int warmupDays,
            int days,
            int perDay,
            double hourSeconds,
            long observationWindow,
            long elapsedWindow,
            PrintStream out) {
        this.warmupDays = warmupDays;
        this.days = days;
        this.perDay = perDay;
        this.hourSeconds = hourSeconds;
        this.observationWindow = observationWindow;
        this.elapsedWindow = elapsedWindow;
        this.out = out;
        // Read here so that a malformed value fails before the modes run, not when they print.
        experiments = FeedbackExperiments.read();
    }

    /** One mode's events on the topics, in event-time order. */
    private record Sent(long ts, String topic, String key, String json) {}

    /** Every mode of {@code modes} but the oracle on the same simulated days with {@code spec}. */
    public void run(ModelSpec spec, List<String> modes) throws Exception {
        Impression[] imps = FeedbackBench.impressions(warmupDays + days, perDay, experiments);
        long scoredFrom = FeedbackBench.START + warmupDays * DriftingSimulator.DAY;
        out.printf(Locale.ROOT, "feedback.pipeline.impressions %d count%n", imps.length);
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            for (String mode : modes) {
                if (mode.equals("oracle")) {
                    continue;
                }
                long t0 = System.nanoTime();
                Feedback feedback = Feedback.parse(mode);
                ModelSpec s = FeedbackBench.specFor(
                        spec, feedback, FeedbackBench.observationWindow(feedback, observationWindow, elapsedWindow));
                String run = "fb-" + mode;
                JobConfig cfg = config(kafka, run, mode, feedback);
                StreamExecutionEnvironment env = PipelineBench.pipeline(kafka, run, 2, cfg, s, false);
                JobClient job = env.executeAsync("feedback-pipeline-" + run);
                try {
                    awaitRunning(job);
                    send(kafka.bootstrapServers(), run, imps);
                    // Until the model topic's committed end has stood still for 30 s: the last windows
                    // have closed and what they sent is trained and published. At the end the join fires
                    // the timers of every request still pending in one go (fnw-matched at 1,000,000 a day:
                    // about 400,000), which holds back the checkpoints that commit its output; 4 s had
                    // cut a run short by 298,960 examples.
                    awaitQuiet(kafka.bootstrapServers(), run + "-model");
                } finally {
                    job.cancel().get();
                }
                String p = "feedback.pipeline." + mode;
                Scored r = evaluate(kafka.bootstrapServers(), run + "-model", s, imps, scoredFrom, days * 24);
                FeedbackMetrics.printHeads(out, p, r.result, experiments.hourly());
                out.printf(Locale.ROOT, "%s.impressions_scored %d count%n", p, r.scored);
                out.printf(Locale.ROOT, "%s.impressions_unscored %d count%n", p, r.unscored);
                out.printf(Locale.ROOT, "%s.versions %d count%n", p, r.versions);
                out.printf(Locale.ROOT, "%s.version_lag_p50 %.1f s%n", p, r.lag.getValueAtPercentile(50) / 1000.0);
                out.printf(Locale.ROOT, "%s.version_lag_p99 %.1f s%n", p, r.lag.getValueAtPercentile(99) / 1000.0);
                out.printf(Locale.ROOT, "%s.examples_trained %d count%n", p, r.examplesSeen);
                for (int h = 0; h < FeedbackBench.HEADS.length; h++) {
                    out.printf(
                            Locale.ROOT,
                            "%s.%s.progressive_auc %.4f ratio%n",
                            p,
                            FeedbackBench.HEADS[h],
                            r.progressiveAuc[h]);
                }
                out.printf(Locale.ROOT, "%s.seconds %.1f s%n", p, (System.nanoTime() - t0) / 1e9);
            }
        }
    }

    private JobConfig config(EmbeddedKafka kafka, String run, String mode, Feedback feedback) {
        Map<String, String> m = new HashMap<>(JobConfig.topicsWithPrefix(run));
        m.put(Key.BOOTSTRAP.yaml(), kafka.bootstrapServers());
        m.put(Key.GROUP_ID.yaml(), "bench-" + run);
        m.put(Key.CLICK_WINDOW.yaml(), "30 min");
        m.put(Key.CONVERSION_WINDOW.yaml(), "24 h");
        m.put(Key.FEEDBACK.yaml(), mode);
        m.put(
                Key.OBSERVATION_WINDOW.yaml(),
                FeedbackBench.observationWindow(feedback, observationWindow, elapsedWindow) + " ms");
        m.put(Key.ORDER.yaml(), "arrival");
        if (experiments.delayPriorHours() > 0 && feedback == Feedback.FNW_MATCHED) {
            // In whole seconds, as a job's config would give it.
            m.put(Key.CONVERSION_DELAY_PRIOR.yaml(), Math.round(experiments.delayPriorHours() * 3600) + " s");
        }
        m.put(Key.CONVERSION_DELAY_SAMPLE.yaml(), String.valueOf(experiments.delaySample()));
        // Versions often enough that several fall in each simulated hour.
        m.put(Key.PUBLISH_INTERVAL.yaml(), Math.max(50, Math.round(hourSeconds * 1000 / 10)) + " ms");
        m.put(Key.SOURCE_IDLENESS.yaml(), "2 s");
        return JobConfig.of(m);
    }

    private static void awaitRunning(JobClient job) throws Exception {
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (job.getJobStatus().get() != JobStatus.RUNNING) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the pipeline job did not start within 60 s");
            }
            Thread.sleep(100);
        }
    }

    /** Writes every impression, click and conversion at its event time's place on the paced clock. */
    private void send(String bootstrap, String run, Impression[] imps) throws Exception {
        List<Sent> events = new ArrayList<>();
        for (Impression im : imps) {
            String id = im.requestId();
            events.add(new Sent(
                    im.ts(),
                    run + "-impressions",
                    id,
                    "{\"request_id\":\"" + id + "\",\"ts\":" + im.ts() + ",\"model\":\"m\",\"features\":"
                            + im.featuresJson() + "}"));
            if (im.clickTs() >= 0) {
                events.add(new Sent(im.clickTs(), run + "-clicks", id, event(id, im.clickTs())));
                if (im.conversionTs() >= 0) {
                    events.add(new Sent(im.conversionTs(), run + "-conversions", id, event(id, im.conversionTs())));
                }
            }
        }
        events.sort((a, b) -> Long.compare(a.ts, b.ts));
        // After the last impression only its late clicks and conversions remain: they are sent at once
        // (nothing is scored then), and none after every window has closed (they would label nothing).
        long lastImpression = imps[imps.length - 1].ts();
        long labelsEnd = lastImpression + FeedbackBench.CLICK_WINDOW + FeedbackBench.CONVERSION_WINDOW;
        Map<String, Object> cfg = Map.of("bootstrap.servers", bootstrap, "acks", "1", "linger.ms", "5");
        double wallPerEventMs = hourSeconds * 1000.0 / DriftingSimulator.HOUR;
        try (KafkaProducer<byte[], byte[]> producer =
                new KafkaProducer<>(cfg, new ByteArraySerializer(), new ByteArraySerializer())) {
            long start = System.nanoTime();
            for (Sent e : events) {
                if (e.ts > labelsEnd) {
                    break;
                }
                long due = start + (long) ((e.ts - FeedbackBench.START) * wallPerEventMs * 1e6);
                long ahead = due - System.nanoTime();
                if (ahead > 2_000_000 && e.ts <= lastImpression) {
                    Thread.sleep(ahead / 1_000_000);
                }
                producer.send(new ProducerRecord<>(
                        e.topic, e.key.getBytes(StandardCharsets.UTF_8), e.json.getBytes(StandardCharsets.UTF_8)));
            }
            // One click past every window (of a request that has no impression: an orphan to the
            // join) moves the watermark past the last windows, which would else stay open: a live
            // stream does not end.
            long tail = labelsEnd + DriftingSimulator.MINUTE;
            producer.send(new ProducerRecord<>(
                    run + "-clicks",
                    "tail".getBytes(StandardCharsets.UTF_8),
                    event("tail", tail).getBytes(StandardCharsets.UTF_8)));
            producer.flush();
        }
    }

    /**
     * Waits until the committed end of {@code topic} has not moved for 30 s (at most 3 minutes).
     */
    private static void awaitQuiet(String bootstrap, String topic) throws InterruptedException {
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(
                Map.of("bootstrap.servers", bootstrap, "isolation.level", "read_committed"),
                new ByteArrayDeserializer(),
                new ByteArrayDeserializer())) {
            List<TopicPartition> parts = c.partitionsFor(topic).stream()
                    .map(i -> new TopicPartition(topic, i.partition()))
                    .toList();
            Map<TopicPartition, Long> last = Map.of();
            long since = System.nanoTime();
            long deadline = since + 180_000_000_000L;
            while (System.nanoTime() < deadline) {
                Map<TopicPartition, Long> end = c.endOffsets(parts);
                if (!end.equals(last)) {
                    last = end;
                    since = System.nanoTime();
                } else if (System.nanoTime() - since > 30_000_000_000L) {
                    return;
                }
                Thread.sleep(250);
            }
        }
    }

    private static String event(String id, long ts) {
        return "{\"request_id\":\"" + id + "\",\"ts\":" + ts + "}";
    }

    /** What the versions on the model topic scored. */
    private record Scored(
            FeedbackMetrics.Result result,
            long scored,
            long unscored,
            int versions,
            long examplesSeen,
            org.HdrHistogram.Histogram lag,
            double[] progressiveAuc) {}

    /**
     * Reads the committed versions in order; before each is applied, the impressions from the event
     * time the model had trained up to until the next version's are scored by the model as it is.
     */
    private static Scored evaluate(
            String bootstrap, String topic, ModelSpec spec, Impression[] imps, long scoredFrom, int hours)
            throws Exception {
        Properties c = new Properties();
        c.put("bootstrap.servers", bootstrap);
        c.put("isolation.level", "read_committed");
        c.put("max.partition.fetch.bytes", String.valueOf(16 * 1024 * 1024));
        FeedbackMetrics metrics = new FeedbackMetrics(hours);
        ExampleEncoder encoder = new ExampleEncoder(spec);
        int[] heads = FeedbackBench.heads(spec);
        ObjectMapper json = new ObjectMapper();
        SnapshotState state = new SnapshotState();
        ChunkAssembler chunks = new ChunkAssembler();
        int next = 0;
        long unscored = 0;
        long scored = 0;
        int versions = 0;
        long examplesSeen = 0;
        List<Integer> toScore = new ArrayList<>();
        // Event time from the impression back to what its version had trained up to (ms).
        org.HdrHistogram.Histogram lag = new org.HdrHistogram.Histogram(30 * DriftingSimulator.DAY, 2);
        long currentUpTo = Long.MIN_VALUE;
        // The trainer's own progressive AUC per head, averaged over the versions of the scored days.
        double[] progressive = new double[FeedbackBench.HEADS.length];
        int[] progressiveVersions = new int[progressive.length];
        try (KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(c, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            TopicPartition tp = new TopicPartition(topic, 0);
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            long end = consumer.endOffsets(List.of(tp)).get(tp);
            while (consumer.position(tp) < end) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                    ModelChunk chunk = ModelRecords.chunkOf(r);
                    byte[] snapshot = chunk == null ? null : chunks.add(chunk);
                    if (snapshot == null) {
                        continue;
                    }
                    JsonNode m =
                            json.readTree(Safetensors.read(snapshot).metadata().get("metrics"));
                    long upTo = m.path("trained_up_to_event_time").asLong(Long.MIN_VALUE);
                    for (int h = 0; h < progressive.length && upTo >= scoredFrom; h++) {
                        JsonNode auc = m.path(FeedbackBench.HEADS[h]).path("auc");
                        if (auc.isNumber()) {
                            progressive[h] += auc.asDouble();
                            progressiveVersions[h]++;
                        }
                    }
                    for (; next < imps.length && imps[next].ts() < upTo; next++) {
                        if (imps[next].ts() < scoredFrom) {
                            continue;
                        }
                        if (versions == 0) {
                            unscored++;
                        } else {
                            toScore.add(next);
                            lag.recordValue(Math.min(lag.getHighestTrackableValue(), imps[next].ts() - currentUpTo));
                        }
                    }
                    scored += toScore.size();
                    metrics.score(state.model(), encoder, imps, toScore, heads, scoredFrom, p -> p);
                    if (!state.apply(snapshot)) {
                        throw new IllegalStateException("version " + chunk.version + " does not follow the last");
                    }
                    versions++;
                    examplesSeen = state.examplesSeen();
                    currentUpTo = Math.max(currentUpTo, upTo);
                }
            }
        }
        for (; next < imps.length; next++) {
            if (imps[next].ts() >= scoredFrom) {
                toScore.add(next);
                lag.recordValue(Math.min(lag.getHighestTrackableValue(), Math.max(0, imps[next].ts() - currentUpTo)));
            }
        }
        scored += toScore.size();
        metrics.score(state.model(), encoder, imps, toScore, heads, scoredFrom, p -> p);
        for (int h = 0; h < progressive.length; h++) {
            progressive[h] /= progressiveVersions[h];
        }
        return new Scored(
                metrics.result(0, 0, examplesSeen, false), scored, unscored, versions, examplesSeen, lag, progressive);
    }
}
