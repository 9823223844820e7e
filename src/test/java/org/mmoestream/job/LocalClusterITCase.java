package org.mmoestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.event.LabeledExample;
import org.mmoestream.local.LocalCluster;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.SpecLoader;
import org.mmoestream.publish.ModelReader;
import org.mmoestream.simulate.EventWriter;
import org.mmoestream.simulate.Simulator;
import org.mmoestream.testing.KafkaBroker;
import org.mmoestream.testing.Paced;
import org.mmoestream.testing.PipelineChecks;

/**
 * The pipeline job on a multi-process Flink cluster ({@code deploy/local-cluster}: a JobManager
 * and two TaskManagers, each its own JVM) against an embedded Kafka broker. A TaskManager that
 * runs a trainer is killed with {@code kill -9} in the middle of the stream, once a checkpoint has
 * completed and committed versions of both models have trained on a fifth of the examples; the job
 * restarts from its last checkpoint on the other TaskManager and finishes. The committed topics
 * show nothing lost or duplicated: one example per impression with the simulator's labels,
 * versions 1..n per model, and each model's last version trained on exactly that model's examples.
 *
 * <p>Now and then Flink 2.2.1 takes the surviving TaskManager down too (a fatal error in a task's
 * cleanup after the peer is lost); {@link LocalCluster} then starts a replacement, as a production
 * supervisor would, and the job recovers on it.
 */
class LocalClusterITCase {
    private static final int IMPRESSIONS = 30_000;
    private static final int PARALLELISM = 2;
    private static final int MAX_PARALLELISM = 128;
    /** Per record read: reading the backlog (about 42,000 records) takes about half a minute. */
    private static final long PAUSE_NANOS = 1_000_000;
    /**
     * How long the job may take to finish after the kill: 13-21 s in 24 local runs (noticing the loss,
     * two restarts, the rest of the backlog); the bound leaves room for a slow machine and for a
     * replica's full wait for a sync version ({@code ReplicaOperator.MAX_WAIT_MILLIS}, 120 s).
     */
    private static final long RECOVERY_SECONDS = 300;

    private static final ModelSpec SPEC = SpecLoader.load(Path.of("examples/ctr-cvr.yaml"));

    @RegisterExtension
    static final KafkaBroker KAFKA = new KafkaBroker();

    static LocalCluster cluster;

    /** A cluster per test: each test kills one of its TaskManagers. */
    @BeforeEach
    void start() throws Exception {
        cluster = LocalCluster.start(Path.of("target/local-cluster-it"), 2);
    }

    @AfterEach
    void stop() {
        if (cluster != null) {
            cluster.close();
        }
    }

    /** The run's configuration, on topics and a group of its own. */
    private static JobConfig config(int trainParallelism, double gradientDensity, boolean survivorExits) {
        String run = trainParallelism + (gradientDensity < 1 ? "-sparse" : "") + (survivorExits ? "-survivor" : "");
        Map<String, String> m = new HashMap<>(JobConfig.topicsWithPrefix("lc" + run));
        m.put(Key.BOOTSTRAP.yaml(), KAFKA.bootstrapServers());
        m.put(Key.GROUP_ID.yaml(), "local-cluster-" + run);
        m.put(Key.TRAIN_PARALLELISM.yaml(), String.valueOf(trainParallelism));
        m.put(Key.GRADIENT_DENSITY.yaml(), String.valueOf(gradientDensity));
        // Short windows: examples become final, and are trained on, while the stream is still read.
        m.put(Key.CLICK_WINDOW.yaml(), "2 s");
        m.put(Key.CONVERSION_WINDOW.yaml(), "5 s");
        m.put(Key.OUT_OF_ORDERNESS.yaml(), "1 s");
        m.put(Key.BATCH_SIZE.yaml(), "64");
        m.put(Key.PUBLISH_INTERVAL.yaml(), "1 s");
        m.put(Key.FULL_EVERY.yaml(), "4");
        m.put(Key.MAX_MESSAGE_BYTES.yaml(), "200000");
        // Small fetches: the source interleaves its partitions finely, so the watermark (the minimum
        // over partitions) and with it the join and the trainers advance steadily, not in 1 MB bursts.
        m.put(JobConfig.CLIENT_PREFIX + "max.partition.fetch.bytes", "16384");
        return JobConfig.of(m);
    }

    /** Two model ids whose trainer keys fall on different subtasks, so both trainers hold a model. */
    private static String[] modelsOnBothTrainers() {
        String[] byTrainer = new String[PARALLELISM];
        int found = 0;
        for (int i = 1; found < PARALLELISM; i++) {
            String m = "m" + i;
            int subtask = KeyGroupRangeAssignment.assignKeyToParallelOperator(m, MAX_PARALLELISM, PARALLELISM);
            if (byTrainer[subtask] == null) {
                byTrainer[subtask] = m;
                found++;
            }
        }
        return byTrainer;
    }

    /** What the simulator wrote: each request's model and its labels (click, conversion). */
    record Written(Map<String, String> modelOf, Map<String, int[]> labels, Map<String, Integer> perModel) {}

    private static Written produce(JobConfig cfg, String... models) throws Exception {
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
                1,
                cfg.string(Key.TOPIC_MODEL),
                1,
                cfg.string(Key.TOPIC_TRAIN_SYNC),
                1));
        Written w = new Written(new HashMap<>(), new HashMap<>(), new HashMap<>());
        try (EventWriter writer = new EventWriter(
                KAFKA.bootstrapServers(),
                cfg.string(Key.TOPIC_IMPRESSIONS),
                cfg.string(Key.TOPIC_CLICKS),
                cfg.string(Key.TOPIC_CONVERSIONS),
                new Properties())) {
            // Event time advances 10 ms per impression; click and conversion delays fit in the windows,
            // so every label is known here.
            writer.write(new Simulator(11, 300, 100, 0.5, models), IMPRESSIONS, 0, 1_500, 3_500, null, imp -> {
                w.modelOf().put(imp.requestId(), imp.model());
                w.labels().put(imp.requestId(), new int[] {imp.clicked() ? 1 : 0, imp.converted() ? 1 : 0});
                w.perModel().merge(imp.model(), 1, Integer::sum);
            });
        }
        return w;
    }

    private static JobClient submit(JobConfig cfg) throws Exception {
        StreamExecutionEnvironment env = cluster.environment(PARALLELISM, "1 s");
        env.setMaxParallelism(MAX_PARALLELISM);
        PipelineJob.build(
                env,
                cfg,
                SPEC,
                KafkaIo.events(cfg, true, new Paced(PipelineJob.eventDeserializer(cfg), PAUSE_NANOS)),
                KafkaIo.examples(cfg, cfg.string(Key.GROUP_ID)),
                KafkaIo.deadLetters(cfg, cfg.string(Key.GROUP_ID)),
                KafkaIo.modelSink(cfg, cfg.string(Key.GROUP_ID)));
        return env.executeAsync("local-cluster-kill");
    }

    /** The TaskManager (resource id, also the name of its pid file) that runs trainer subtask 0. */
    private static String trainerTaskManager(String job) throws Exception {
        for (JsonNode v : cluster.rest("/jobs/" + job).get("vertices")) {
            if (v.get("name").asText().startsWith("train")) {
                JsonNode subtasks = cluster.rest(
                                "/jobs/" + job + "/vertices/" + v.get("id").asText())
                        .get("subtasks");
                return subtasks.get(0).get("taskmanager-id").asText();
            }
        }
        throw new IllegalStateException("no trainer vertex in job " + job);
    }

    /**
     * With {@code train.parallelism} 1 each model has one trainer; with 2 each model is trained by
     * two replicas, one per TaskManager, and a reducer, so the kill takes a replica (and maybe the
     * reducer) of each model with it. With {@code train.gradient-density} below 1 the replicas hold
     * back part of their gradients, and send it before each checkpoint barrier.
     */
    @ParameterizedTest(name = "train.parallelism {0}, train.gradient-density {1}, the survivor exits too: {2}")
    @CsvSource({"1, 1, false", "2, 1, false", "2, 0.05, false", "2, 1, true"})
    void killedTaskManagerLosesAndDuplicatesNothing(int trainParallelism, double gradientDensity, boolean survivorExits)
            throws Exception {
        try {
            run(trainParallelism, gradientDensity, survivorExits);
        } catch (Throwable t) {
            System.err.println("LocalClusterITCase failed; the cluster's logs:" + cluster.logTails(60));
            throw t;
        }
    }

    private void run(int trainParallelism, double gradientDensity, boolean survivorExits) throws Exception {
        JobConfig cfg = config(trainParallelism, gradientDensity, survivorExits);
        String[] models = modelsOnBothTrainers();
        Written w = produce(cfg, models);
        long start = System.nanoTime();
        JobClient job = submit(cfg);
        String id = job.getJobID().toHexString();

        // Wait until a checkpoint has completed and the committed versions of both models have
        // trained on a fifth of the examples, then kill -9 the TaskManager that runs trainer subtask 0.
        String victim;
        long examplesAtKill;
        try (ModelReader reader =
                new ModelReader(KAFKA.bootstrapServers(), cfg.string(Key.TOPIC_MODEL), null, new Properties())) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (true) {
                reader.poll(Duration.ofMillis(500));
                long completed = cluster.rest("/jobs/" + id + "/checkpoints")
                        .at("/counts/completed")
                        .asLong();
                examplesAtKill = reader.models().values().stream()
                        .mapToLong(m -> m.examplesSeen())
                        .sum();
                if (completed >= 1
                        && reader.models().keySet().containsAll(List.of(models))
                        && examplesAtKill >= IMPRESSIONS / 5) {
                    break;
                }
                assertTrue(
                        System.nanoTime() < deadline,
                        "within 120 s: a checkpoint (" + completed + "), versions of " + List.of(models) + " ("
                                + reader.models().keySet() + "), " + IMPRESSIONS / 5 + " examples trained ("
                                + examplesAtKill + ")");
            }
            assertEquals(
                    "RUNNING", cluster.rest("/jobs/" + id).get("state").asText(), "the job runs when it is disturbed");
            victim = trainerTaskManager(id);
            cluster.killHard(victim);
        }
        List<String> survivors = cluster.liveTaskManagers();
        if (survivorExits) {
            // What Flink 2.2.1 now and then does by itself: the other TaskManager goes down as well,
            // and the cluster's supervisor replaces it.
            for (String s : survivors) {
                ProcessHandle.of(cluster.pid(s)).orElseThrow().destroyForcibly();
            }
        }
        System.out.printf(
                "killed %s (kill -9) %.1f s after submission; the committed versions of %s had "
                        + "trained on %d of %d examples%n",
                victim, (System.nanoTime() - start) / 1e9, List.of(models), examplesAtKill, IMPRESSIONS);
        assertTrue(examplesAtKill < IMPRESSIONS, "killed in the middle of the stream");

        // The bounded job recovers on the remaining TaskManager (two slots) and finishes.
        long killedAt = System.nanoTime();
        awaitFinished(job, id);
        long finishedAt = System.nanoTime();
        System.out.printf(
                "job finished %.1f s after submission, %.1f s after the kill%n",
                (finishedAt - start) / 1e9, (finishedAt - killedAt) / 1e9);
        assertEquals("FINISHED", cluster.rest("/jobs/" + id).get("state").asText());
        JsonNode checkpoints = cluster.rest("/jobs/" + id + "/checkpoints");
        JsonNode restored = checkpoints.at("/latest/restored");
        System.out.println("checkpoints " + checkpoints.get("counts") + ", last restored " + restored);
        assertTrue(
                checkpoints.at("/counts/restored").asLong() >= 1
                        && restored.path("id").asLong() >= 1,
                "the job restored a completed checkpoint: " + checkpoints.get("counts"));
        List<String> failures = failures(id);
        System.out.println("failures: " + failures + "; TaskManagers that exited on their own and were replaced: "
                + cluster.replacedTaskManagers());
        assertTrue(!cluster.replacedTaskManagers().contains(victim), "the killed " + victim + " is not replaced");
        if (survivorExits) {
            assertEquals(survivors, cluster.replacedTaskManagers(), "the survivor that exited was replaced");
        }
        // The kill is seen either on the victim's tasks or, first, by a survivor's task that loses its
        // connection to the victim ("Lost connection to task manager '...' [ taskmanager-2 ]"); when the
        // survivor exits too, the second may be the only one recorded.
        Pattern namesVictim = Pattern.compile("\\b" + Pattern.quote(victim) + "\\b");
        assertTrue(
                failures.stream().anyMatch(f -> namesVictim.matcher(f).find()),
                "a failure that names the killed " + victim + ": " + failures);

        // Nothing lost or duplicated on the committed topics.
        try (ModelReader reader =
                new ModelReader(KAFKA.bootstrapServers(), cfg.string(Key.TOPIC_MODEL), null, new Properties())) {
            // Read until every model's last version (trained on all its examples) is in, then on for a
            // while: a version after it would be one too many.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (System.nanoTime() < deadline
                    && !w.perModel().entrySet().stream()
                            .allMatch(e -> reader.model(e.getKey()) != null
                                    && reader.model(e.getKey()).examplesSeen() >= e.getValue())) {
                reader.poll(Duration.ofMillis(500));
            }
            reader.pollUntilQuiet(Duration.ofSeconds(2), Duration.ofSeconds(30));
            System.out.println("versions " + reader.versions());
            PipelineChecks.assertVersionsAndCounts(reader, w.perModel());
        }
        Map<String, LabeledExample> examples = PipelineChecks.assertOneExamplePerImpression(
                KAFKA.bootstrapServers(), cfg.string(Key.TOPIC_EXAMPLES), w.modelOf(), Duration.ofSeconds(60));
        for (Map.Entry<String, int[]> t : w.labels().entrySet()) {
            LabeledExample e = examples.get(t.getKey());
            assertEquals(t.getValue()[0], e.click, "click of " + t.getKey());
            assertEquals(t.getValue()[1], e.conversion, "conversion of " + t.getKey());
        }
    }

    /**
     * Waits up to {@link #RECOVERY_SECONDS} for the job to finish; else fails naming its state, its
     * checkpoints and every failure it went through (a test report may show only this message).
     */
    private static void awaitFinished(JobClient job, String id) throws Exception {
        try {
            job.getJobExecutionResult().get(RECOVERY_SECONDS, TimeUnit.SECONDS);
        } catch (TimeoutException | ExecutionException e) {
            String state = cluster.rest("/jobs/" + id).get("state").asText();
            throw new AssertionError(
                    "the job did not finish within " + RECOVERY_SECONDS + " s of the kill ("
                            + e.getClass().getSimpleName()
                            + "): state " + state + ", checkpoints "
                            + cluster.rest("/jobs/" + id + "/checkpoints").get("counts") + ", failures "
                            + failures(id) + ", TaskManagers replaced " + cluster.replacedTaskManagers()
                            + ", live " + cluster.liveTaskManagers(),
                    e);
        }
    }

    /** The job's failures, oldest first: the exception's first line (to 200 characters), task, TaskManager. */
    private static List<String> failures(String id) throws Exception {
        List<String> failures = new ArrayList<>();
        for (JsonNode e : cluster.rest("/jobs/" + id + "/exceptions").at("/exceptionHistory/entries")) {
            String trace = e.path("stacktrace").asText();
            int eol = trace.indexOf('\n');
            String first = (eol < 0 ? trace : trace.substring(0, eol)).strip();
            failures.add(
                    0,
                    first.substring(0, Math.min(first.length(), 200)) + " in "
                            + e.path("taskName").asText() + " on "
                            + e.path("taskManagerId").asText());
        }
        return failures;
    }
}
