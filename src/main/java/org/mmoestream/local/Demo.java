package org.mmoestream.local;

import com.fasterxml.jackson.databind.JsonNode;
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
import java.util.concurrent.CompletableFuture;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.job.Environments;
import org.mmoestream.job.KafkaIo;
import org.mmoestream.job.PipelineJob;
import org.mmoestream.job.ScoringJob;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.TaskMetrics;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.publish.ModelReader;
import org.mmoestream.simulate.EventWriter;
import org.mmoestream.simulate.Simulator;

/**
 * The whole system on one machine: an embedded Kafka broker, the simulator's events, the pipeline
 * job (join, online training, versions) and the scoring job on local Flink clusters with RocksDB and
 * checkpoints. The trainer runs in event-time order, so its progressive window holds the last
 * impressions in their order and the simulator's oracle is measured on the same rows (with {@code
 * train.parallelism} > 1 training is in arrival order, so the window and the oracle's rows differ
 * by the examples whose labels became final out of order; held-out AUC is on the same rows). Prints progress
 * every few seconds; writes {@code report.json} and {@code learning-curve.png} (progressive AUC per
 * task against the oracle on the same examples, at each version).
 */
public final class Demo {
    /** Demo settings; {@code trainParallelism} is the pipeline's {@code train.parallelism}. */
    public record Options(
            long events,
            double rate,
            long seed,
            Path out,
            ModelSpec spec,
            int trainParallelism,
            String feedback,
            long history) {
        /** Without a history: the pipeline starts from its seed. */
        public Options(
                long events, double rate, long seed, Path out, ModelSpec spec, int trainParallelism, String feedback) {
            this(events, rate, seed, out, spec, trainParallelism, feedback, 0);
        }
    }

    private final Options o;
    private final PrintStream out;
    private volatile boolean stopping;

    public Demo(Options options, PrintStream out) {
        this.o = options;
        this.out = out;
    }

    private int trainThreads = 1;

    /** The pipeline's {@code train.threads}: threads that compute each training step (default 1). */
    public Demo withTrainThreads(int threads) {
        this.trainThreads = threads;
        return this;
    }

    /** Users and items of the simulator, and how much their click and conversion tastes correlate. */
    private static final int USERS = 300;

    private static final int ITEMS = 100;
    private static final double CORRELATION = 0.5;
    /** The model id of the demo's events and requests. */
    static final String MODEL = "default";
    /**
     * Events per impression in the simulator's stream: an impression, its click if any, its
     * conversion if any, and the writer's duplicates and malformed records ({@code demo --events
     * 300000} wrote 302,839 events for 211,268 impressions, 1.43 per impression); {@code --events} /
     * this many impressions are written.
     */
    private static final double EVENTS_PER_IMPRESSION = 1.42;
    /** Clicks come up to 20 s after their impression, conversions up to 60 s after their click. */
    private static final long MAX_CLICK_DELAY_MS = 20_000;

    private static final long MAX_CONVERSION_DELAY_MS = 60_000;
    private static final int HELD_OUT = 20_000;
    /** The pipeline's batch size, and the offline history's. */
    private static final int BATCH = 64;

    private static final int SCORE_REQUESTS = 2_000;

    /** The demo's simulator; the same seed gives the same users, items and impressions. */
    private static Simulator simulator(long seed) {
        return new Simulator(seed, USERS, ITEMS, CORRELATION, MODEL);
    }

    /** Runs the demo: set up, write events, start the jobs, follow the model, score requests, report. */
    public void run() throws Exception {
        Files.createDirectories(o.out());
        long started = System.nanoTime();
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            out.println("demo: Kafka on " + kafka.bootstrapServers());
            Simulator sim = simulator(o.seed());
            Path history = o.history() > 0 ? trainHistory(sim) : null;
            JobConfig cfg = setUp(kafka, history);
            Written written = writeEvents(kafka, sim);
            Jobs jobs = startJobs(cfg);
            Runtime.getRuntime().addShutdownHook(jobs.hook());
            Followed followed = follow(
                    kafka,
                    jobs,
                    written,
                    new Oracle(
                            written.truth(),
                            cfg.integer(Key.METRICS_WINDOW),
                            PipelineJob.clickHorizon(cfg),
                            PipelineJob.labelHorizon(cfg)));
            long scores = !stopping && followed.last() != null ? scoreRequests(kafka) : 0;
            jobs.scoring().cancel().get();
            Runtime.getRuntime().removeShutdownHook(jobs.hook());
            if (followed.last() != null) {
                DemoReport.write(
                        o.out(),
                        new DemoReport.Results(
                                followed.last(),
                                followed.heldOut(),
                                followed.sameRows(),
                                trained(followed.last()) / followed.trainSeconds(),
                                followed.versions(),
                                kafka.committedRecords("dead-letter"),
                                written.malformed(),
                                written.truth().size(),
                                expectedExamples(written.truth(), o.feedback(), observationWindow()),
                                scores,
                                followed.curve(),
                                o.history()));
            }
            out.printf(
                    Locale.ROOT,
                    "demo: done in %.0f s; %s%n",
                    (System.nanoTime() - started) / 1e9,
                    o.out().resolve("report.json"));
        }
    }

    /** The demo's {@code join.observation-window}: half the click window for es-dfm (its elapsed window c), else 0. */
    private long observationWindow() {
        return o.feedback().equals("es-dfm") ? 15_000 : 0;
    }

    /**
     * The examples the join sends for {@code truth} under {@code feedback} at observation window
     * {@code observation} (ms), each once: with wait one per impression; with the early modes one
     * when the observation window closes, one more for a click and one for a conversion after it
     * (at a window of 0, every one), with defer one more at once for an impression whose click came
     * within the window, with defer and es-dfm one more when the windows close without a conversion,
     * and with fnw-matched two fake negatives (of the click, of the conversion) instead of the observed
     * one (every click and conversion of the demo's simulator falls within its windows).
     */
    static long expectedExamples(List<Simulator.Impression> truth, String feedback, long observation) {
        if (feedback.equals("wait")) {
            return truth.size();
        }
        boolean closing = feedback.equals("defer") || feedback.equals("es-dfm");
        // fnw-matched: a fake negative of the click and one of the conversion, and each positive.
        int negatives = feedback.equals("fnw-matched") ? 2 : 1;
        long n = 0;
        for (Simulator.Impression i : truth) {
            // At a window of 0 every click and conversion is later, even one in the impression's millisecond.
            boolean clickLater = i.clicked() && (observation == 0 || i.clickDelay() > observation);
            boolean conversionLater =
                    i.converted() && (observation == 0 || i.clickDelay() + i.conversionDelay() > observation);
            boolean repeat = feedback.equals("defer") && i.clicked() && !clickLater;
            n += negatives
                    + (repeat ? 1 : 0)
                    + (clickLater ? 1 : 0)
                    + (conversionLater ? 1 : 0)
                    + (closing && !i.converted() ? 1 : 0);
        }
        return n;
    }

    /** Examples the pipeline trained into {@code s}: its examples seen less the offline history's. */
    private long trained(SnapshotState s) {
        return s.examplesSeen() - o.history();
    }

    /**
     * The warm start's offline half ({@code --history}): the simulator's first impressions, labeled
     * with what happened to them, trained in one pass in batches of the pipeline's size, and saved
     * with their training state as {@code history.safetensors} in the output directory, as {@code
     * bin/mmoe train-file --save} saves a model trained on a logged file; the pipeline starts from it
     * ({@code train.init-from}).
     */
    private Path trainHistory(Simulator sim) throws Exception {
        org.mmoestream.model.ExampleEncoder enc = new org.mmoestream.model.ExampleEncoder(o.spec());
        org.mmoestream.model.MmoeModel m =
                org.mmoestream.model.MmoeModel.create(o.spec(), o.seed(), org.nd4j.linalg.api.buffer.DataType.FLOAT);
        m.scalePartialBatches(BATCH);
        List<org.mmoestream.feature.EncodedExample> batch = new ArrayList<>();
        for (long i = 0; i < o.history(); i++) {
            Simulator.Impression imp = sim.next(0, MAX_CLICK_DELAY_MS, MAX_CONVERSION_DELAY_MS);
            batch.add(enc.encode(imp.featuresJson(), imp.clicked() ? 1 : 0, imp.converted() ? 1 : 0));
            if (batch.size() == BATCH || i == o.history() - 1) {
                m.trainStep(org.mmoestream.model.Batch.of(batch));
                batch.clear();
            }
        }
        Path file = o.out().resolve("history.safetensors");
        Files.write(
                file,
                org.mmoestream.model.codec.Snapshots.full(
                        m,
                        new org.mmoestream.model.codec.Snapshots.Meta(
                                MODEL,
                                0,
                                org.mmoestream.model.codec.Snapshots.FULL,
                                0,
                                m.examplesSeen(),
                                System.currentTimeMillis(),
                                "{\"source\":\"demo history\"}"),
                        org.mmoestream.model.codec.Snapshots.tablesOf(m),
                        true));
        out.printf(
                Locale.ROOT,
                "demo: trained a history of %,d impressions offline (as train-file --save); the pipeline starts "
                        + "from it: train.init-from %s%n",
                m.examplesSeen(),
                file);
        return file;
    }

    /** The topics and the job configuration; the model starts from {@code history} when not null. */
    private JobConfig setUp(EmbeddedKafka kafka, Path history) {
        Map<String, Integer> topics = new HashMap<>();
        for (String t : List.of("impressions", "clicks", "conversions", "score-requests", "scores")) {
            topics.put(t, 2);
        }
        topics.put("dead-letter", 1);
        topics.put("model", 1);
        topics.put("train-sync", 1);
        kafka.createTopics(topics);
        return jobConfig(kafka.bootstrapServers(), history);
    }

    /** The pipeline's configuration on the broker at {@code bootstrap}; from {@code history} when not null. */
    JobConfig jobConfig(String bootstrap, Path history) {
        // Event-time order: the trainer sees the impressions in their order, whatever order the join
        // makes their labels final in, so its progressive metrics and the oracle's are on the same rows.
        // Several subtasks per model train in arrival order (event-time order is one sequence).
        Map<String, String> settings = new HashMap<>();
        settings.put(Key.BOOTSTRAP.yaml(), bootstrap);
        settings.put(Key.CLICK_WINDOW.yaml(), "30 s");
        settings.put(Key.CONVERSION_WINDOW.yaml(), "90 s");
        settings.put(Key.OUT_OF_ORDERNESS.yaml(), "2 s");
        settings.put(Key.BATCH_SIZE.yaml(), String.valueOf(BATCH));
        if (history != null) {
            settings.put(Key.INIT_FROM.yaml(), history.toAbsolutePath().toString());
        }
        settings.put(Key.PUBLISH_INTERVAL.yaml(), "1 s");
        settings.put(Key.FULL_EVERY.yaml(), "10");
        boolean arrival = o.trainParallelism() > 1 || !o.feedback().equals("wait");
        settings.put(Key.ORDER.yaml(), arrival ? "arrival" : "event-time");
        settings.put(Key.FEEDBACK.yaml(), o.feedback());
        if (o.feedback().equals("fnw-matched")) {
            // A new join has seen only delays shorter than its age: start its sample from the
            // simulator's mean delay to the conversion (uniform click and conversion delays).
            long meanDelay = (MAX_CLICK_DELAY_MS + MAX_CONVERSION_DELAY_MS) / 2;
            settings.put(Key.CONVERSION_DELAY_PRIOR.yaml(), meanDelay + " ms");
        }
        if (observationWindow() > 0) {
            // ES-DFM's elapsed window: half the click window, as 15 min of 30 in the paper's setting.
            settings.put(Key.OBSERVATION_WINDOW.yaml(), observationWindow() + " ms");
        }
        settings.put(Key.SCORING_MAX_MODEL_AGE.yaml(), "0 ms");
        settings.put(Key.TRAIN_PARALLELISM.yaml(), String.valueOf(o.trainParallelism()));
        settings.put(Key.TRAIN_THREADS.yaml(), String.valueOf(trainThreads));
        return JobConfig.of(settings);
    }

    /** What the simulator wrote: the truth of each impression, the events and the malformed records. */
    private record Written(List<Simulator.Impression> truth, long events, long malformed) {}

    /** The next impressions of {@code sim} as events, with duplicates, malformed records and disorder. */
    private Written writeEvents(EmbeddedKafka kafka, Simulator sim) throws Exception {
        long impressions = Math.max(1000, Math.round(o.events() / EVENTS_PER_IMPRESSION));
        List<Simulator.Impression> truth = new ArrayList<>();
        try (EventWriter w =
                new EventWriter(kafka.bootstrapServers(), "impressions", "clicks", "conversions", new Properties())) {
            w.withNoise(new EventWriter.Noise(0.01, 0.001, 1_000, o.seed()));
            long events = w.write(
                    sim,
                    impressions,
                    o.rate(),
                    MAX_CLICK_DELAY_MS,
                    MAX_CONVERSION_DELAY_MS,
                    (i, r) -> {
                        if (i % 50_000 == 0) {
                            out.printf(Locale.ROOT, "demo: simulator wrote %,d impressions, %,d events%n", i, r);
                        }
                    },
                    truth::add);
            out.printf(
                    Locale.ROOT,
                    "demo: %,d events written (%,d duplicates, %,d malformed)%n",
                    events,
                    w.duplicated(),
                    w.malformed());
            return new Written(truth, events, w.malformed());
        }
    }

    /** The two jobs, the pipeline's result and the hook that stops both on Ctrl-C. */
    private record Jobs(
            JobClient pipeline, JobClient scoring, CompletableFuture<?> result, long started, Thread hook) {}

    /** The scoring job (runs until the end) and the pipeline job (bounded: ends with the events). */
    private Jobs startJobs(JobConfig cfg) throws Exception {
        StreamExecutionEnvironment scoringEnv = Environments.localRocksDb(1, "5 s");
        ScoringJob.buildOnKafka(scoringEnv, cfg, "demo-scoring");
        JobClient scoring = scoringEnv.executeAsync("mmoe-demo-scoring");
        StreamExecutionEnvironment env = Environments.localRocksDb(2, "2 s");
        PipelineJob.build(
                env,
                cfg,
                o.spec(),
                KafkaIo.events(cfg, true),
                null,
                KafkaIo.deadLetters(cfg, "demo"),
                KafkaIo.modelSink(cfg, "demo"));
        long started = System.nanoTime();
        JobClient pipeline = env.executeAsync("mmoe-demo-pipeline");
        // The local cluster of a finished job shuts down; watch the result, not the status.
        CompletableFuture<?> result = pipeline.getJobExecutionResult();
        Thread hook = new Thread(() -> {
            stopping = true;
            out.println("demo: stopping");
            if (!result.isDone()) {
                pipeline.cancel();
            }
            scoring.cancel();
        });
        return new Jobs(pipeline, scoring, result, started, hook);
    }

    /** What following the model topic saw: the last version, held-out and same-rows AUCs, the curve. */
    private record Followed(
            SnapshotState last,
            int versions,
            DemoReport.HeldOut heldOut,
            double[] sameRows,
            List<double[]> curve,
            double trainSeconds) {}

    /** Follows the model topic until the pipeline has finished, printing progress every few seconds. */
    private Followed follow(EmbeddedKafka kafka, Jobs jobs, Written written, Oracle oracle) throws Exception {
        // Held-out impressions from the same simulator, after the training stream.
        Simulator holdoutSim = simulator(o.seed());
        for (long i = 0; i < o.history() + written.truth().size(); i++) {
            holdoutSim.next(0, 1, 1);
        }
        List<Simulator.Impression> holdout = new ArrayList<>();
        for (int i = 0; i < HELD_OUT; i++) {
            holdout.add(holdoutSim.next(0, 1, 1));
        }
        DemoReport.HeldOut heldOut = DemoReport.HeldOut.NONE;
        double[] sameRows = {Double.NaN, Double.NaN};
        List<double[]> curve = new ArrayList<>();
        SnapshotState last = null;
        int versions = 0;
        try (ModelReader reader = new ModelReader(kafka.bootstrapServers(), "model", MODEL, new Properties())) {
            long nextPrint = System.nanoTime();
            boolean done = false;
            while (!stopping) {
                if (reader.poll(Duration.ofMillis(500)) > 0 || done) {
                    if (done) {
                        // The last versions may still be in flight: read until the topic is quiet.
                        reader.pollUntilQuiet(Duration.ofSeconds(3), Duration.ofMinutes(1));
                    }
                    last = reader.model(MODEL);
                    versions = reader.versions().size();
                    if (last != null) {
                        JsonNode m = new ObjectMapper().readTree(last.metadata().get("metrics"));
                        heldOut = heldOut(last, holdout);
                        // With wait, in event-time order, the trainer's k-th example is the k-th impression;
                        // an early mode measures the impressions whose windows the watermark has passed
                        // (every one once the input has ended), about what it trained up to less them.
                        long upTo = m.path("trained_up_to_event_time").asLong();
                        sameRows = o.feedback().equals("wait")
                                ? oracle.at(trained(last), trained(last))
                                : done ? oracle.at(Long.MAX_VALUE, Long.MAX_VALUE) : oracle.measuredBy(upTo);
                        curve.add(new double[] {
                            trained(last),
                            m.path("ctr").path("auc").asDouble(Double.NaN),
                            m.path("cvr").path("auc").asDouble(Double.NaN),
                            sameRows[0],
                            sameRows[1]
                        });
                    }
                }
                if (System.nanoTime() > nextPrint || done) {
                    progress(kafka, last, versions, heldOut, sameRows, written.events(), jobs.started());
                    nextPrint = System.nanoTime() + 3_000_000_000L;
                }
                if (done) {
                    break;
                }
                done = jobs.result().isDone();
            }
        }
        double trainSeconds = (System.nanoTime() - jobs.started()) / 1e9;
        if (jobs.result().isCompletedExceptionally()) {
            jobs.result().get(); // rethrows the job's failure
        }
        return new Followed(last, versions, heldOut, sameRows, curve, trainSeconds);
    }

    /** Sends score requests for the published model; returns how many scores were committed. */
    private long scoreRequests(EmbeddedKafka kafka) throws Exception {
        Simulator probe = simulator(o.seed() + 1);
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(
                Map.of("bootstrap.servers", kafka.bootstrapServers()),
                new ByteArraySerializer(),
                new ByteArraySerializer())) {
            for (int i = 0; i < SCORE_REQUESTS; i++) {
                Simulator.Impression imp = probe.next(System.currentTimeMillis(), 1, 1);
                p.send(new ProducerRecord<>(
                        "score-requests", Simulator.requestJson("s" + i, imp).getBytes(StandardCharsets.UTF_8)));
            }
        }
        long scores = 0;
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (scores < SCORE_REQUESTS && System.nanoTime() < deadline && !stopping) {
            Thread.sleep(500);
            scores = kafka.committedRecords("scores");
        }
        out.printf(Locale.ROOT, "demo: scoring job scored %,d of %,d requests%n", scores, SCORE_REQUESTS);
        return scores;
    }

    private void progress(
            EmbeddedKafka kafka,
            SnapshotState last,
            int versions,
            DemoReport.HeldOut heldOut,
            double[] sameRows,
            long written,
            long t0)
            throws Exception {
        double secs = (System.nanoTime() - t0) / 1e9;
        if (last == null) {
            out.printf(
                    Locale.ROOT, "demo: %5.0f s  events in %,d  waiting for the first model version%n", secs, written);
            return;
        }
        JsonNode m = new ObjectMapper().readTree(last.metadata().get("metrics"));
        out.printf(
                Locale.ROOT,
                "demo: %5.0f s  events in %,d  trained %,d (%,.0f/s)  version %d  progressive AUC ctr %.3f"
                        + " (oracle %.3f) cvr %.3f (oracle %.3f)  held-out ctr %.3f (oracle %.3f) cvr %.3f "
                        + "(oracle %.3f)  dead letters %d%n",
                secs,
                written,
                trained(last),
                trained(last) / secs,
                last.version(),
                m.path("ctr").path("auc").asDouble(Double.NaN),
                sameRows[0],
                m.path("cvr").path("auc").asDouble(Double.NaN),
                sameRows[1],
                heldOut.ctr(),
                heldOut.ctrOracle(),
                heldOut.cvr(),
                heldOut.cvrOracle(),
                kafka.committedRecords("dead-letter"));
    }

    /**
     * The simulator's truth in the trainer's order (impression time, then request id): the oracle's
     * AUC on exactly the rows of the trainer's progressive window after {@code k} examples (ctr: the
     * last {@code window} impressions; cvr: the last {@code window} clicked ones).
     */
    static final class Oracle {
        private final List<Simulator.Impression> ordered;
        private final int window;
        private final long clickHorizon;
        private final long labelHorizon;

        /**
         * @param clickHorizon, labelHorizon event time after an impression by which an early mode's
         *     trainer measures its click's task and its other heads ({@code PipelineJob#clickHorizon})
         */
        Oracle(List<Simulator.Impression> truth, int window, long clickHorizon, long labelHorizon) {
            this.ordered = new ArrayList<>(truth);
            this.ordered.sort(java.util.Comparator.comparingLong(Simulator.Impression::ts)
                    .thenComparing(Simulator.Impression::requestId));
            this.window = window;
            this.clickHorizon = clickHorizon;
            this.labelHorizon = labelHorizon;
        }

        /**
         * {ctr AUC, cvr AUC} of the oracle on the windows an early mode's trainer has measured once
         * it has trained up to event time {@code upTo}: the impressions whose horizons have passed.
         */
        double[] measuredBy(long upTo) {
            return at(upTo(upTo - clickHorizon), upTo(upTo - labelHorizon));
        }

        /** The number of impressions at or before event time {@code ts}. */
        long upTo(long ts) {
            int lo = 0;
            int hi = ordered.size();
            while (lo < hi) {
                int mid = (lo + hi) >>> 1;
                if (ordered.get(mid).ts() <= ts) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            return lo;
        }

        /**
         * {ctr AUC, cvr AUC} of the oracle on the progressive windows: of ctr after {@code kCtr}
         * impressions, of cvr after {@code kCvr}.
         */
        double[] at(long kCtr, long kCvr) {
            TaskMetrics ctr = new TaskMetrics();
            int end = (int) Math.min(kCtr, ordered.size());
            for (int i = end - 1; i >= 0 && i >= end - window; i--) {
                ctr.add(ordered.get(i).pClick(), ordered.get(i).clicked());
            }
            TaskMetrics cvr = new TaskMetrics();
            int clicked = 0;
            for (int i = (int) Math.min(kCvr, ordered.size()) - 1; i >= 0 && clicked < window; i--) {
                Simulator.Impression imp = ordered.get(i);
                if (imp.clicked()) {
                    cvr.add(imp.pConversion(), imp.converted());
                    clicked++;
                }
            }
            return new double[] {ctr.auc(), cvr.auc()};
        }
    }

    /** The last version on the held-out impressions, against the oracle. */
    private static DemoReport.HeldOut heldOut(SnapshotState s, List<Simulator.Impression> holdout) {
        org.mmoestream.model.ExampleEncoder enc =
                new org.mmoestream.model.ExampleEncoder(s.model().spec());
        double[][] p = s.model()
                .predict(org.mmoestream.model.Batch.of(holdout.stream()
                        .map(i -> enc.encodeFeatures(i.featuresJson(), null))
                        .toList()));
        int ctr = s.model().spec().taskIndex("ctr");
        int cvr = s.model().spec().taskIndex("cvr");
        TaskMetrics mc = new TaskMetrics();
        TaskMetrics oc = new TaskMetrics();
        TaskMetrics mv = new TaskMetrics();
        TaskMetrics ov = new TaskMetrics();
        for (int i = 0; i < holdout.size(); i++) {
            Simulator.Impression imp = holdout.get(i);
            mc.add(p[ctr][i], imp.clicked());
            oc.add(imp.pClick(), imp.clicked());
            if (imp.clicked()) {
                mv.add(p[cvr][i], imp.converted());
                ov.add(imp.pConversion(), imp.converted());
            }
        }
        int value = -1;
        for (int t = 0; t < s.model().spec().tasks().size() && value < 0; t++) {
            value = s.model().spec().tasks().get(t).regression() ? t : -1;
        }
        TaskMetrics mr = new TaskMetrics(true);
        TaskMetrics or = new TaskMetrics(true);
        for (int i = 0; value >= 0 && i < holdout.size(); i++) {
            Simulator.Impression imp = holdout.get(i);
            if (imp.converted()) {
                mr.add(p[value][i], imp.value());
                or.add(imp.expectedValue(), imp.value());
            }
        }
        return new DemoReport.HeldOut(
                mc.auc(),
                oc.auc(),
                mv.auc(),
                ov.auc(),
                mr.rmse(),
                or.rmse(),
                mr.calibration(),
                value < 0 ? Double.NaN : mr.count());
    }
}
