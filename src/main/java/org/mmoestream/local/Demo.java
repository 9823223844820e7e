package org.mmoestream.local;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
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
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
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
    public record Options(long events, double rate, long seed, Path out, ModelSpec spec, int trainParallelism) {}

    private final Options o;
    private final PrintStream out;
    private volatile boolean stopping;

    public Demo(Options options, PrintStream out) {
        this.o = options;
        this.out = out;
    }

    public void run() throws Exception {
        Files.createDirectories(o.out());
        long started = System.nanoTime();
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            out.println("demo: Kafka on " + kafka.bootstrapServers());
            Map<String, Integer> topics = new HashMap<>();
            for (String t : List.of("impressions", "clicks", "conversions", "score-requests", "scores")) {
                topics.put(t, 2);
            }
            topics.put("dead-letter", 1);
            topics.put("model", 1);
            topics.put("train-sync", 1);
            kafka.createTopics(topics);
            // Event-time order: the trainer sees the impressions in their order, whatever order the join
            // makes their labels final in, so its progressive metrics and the oracle's are on the same rows.
            // Several subtasks per model train in arrival order (event-time order is one sequence).
            Map<String, String> settings = new HashMap<>(Map.of(
                    Key.BOOTSTRAP.yaml(),
                    kafka.bootstrapServers(),
                    Key.CLICK_WINDOW.yaml(),
                    "30 s",
                    Key.CONVERSION_WINDOW.yaml(),
                    "90 s",
                    Key.OUT_OF_ORDERNESS.yaml(),
                    "2 s",
                    Key.BATCH_SIZE.yaml(),
                    "64",
                    Key.PUBLISH_INTERVAL.yaml(),
                    "1 s",
                    Key.FULL_EVERY.yaml(),
                    "10",
                    Key.ORDER.yaml(),
                    o.trainParallelism() > 1 ? "arrival" : "event-time",
                    Key.SCORING_MAX_MODEL_AGE.yaml(),
                    "0 ms"));
            settings.put(Key.TRAIN_PARALLELISM.yaml(), String.valueOf(o.trainParallelism()));
            JobConfig cfg = JobConfig.of(settings);
            int window = cfg.integer(Key.METRICS_WINDOW);

            // 1. The simulator's events, with duplicates, malformed records and disorder; the truth of each impression.
            Simulator sim = new Simulator(o.seed(), 300, 100, 0.5, "default");
            long impressions = Math.max(1000, Math.round(o.events() / 1.42));
            List<Simulator.Impression> truth = new ArrayList<>();
            long written;
            long malformed;
            try (EventWriter w = new EventWriter(
                    kafka.bootstrapServers(), "impressions", "clicks", "conversions", new Properties())) {
                w.withNoise(new EventWriter.Noise(0.01, 0.001, 1_000, o.seed()));
                written = w.write(
                        sim,
                        impressions,
                        o.rate(),
                        20_000,
                        60_000,
                        (i, r) -> {
                            if (i % 50_000 == 0) {
                                out.printf(Locale.ROOT, "demo: simulator wrote %,d impressions, %,d events%n", i, r);
                            }
                        },
                        truth::add);
                malformed = w.malformed();
                out.printf(
                        Locale.ROOT,
                        "demo: %,d events written (%,d duplicates, %,d malformed)%n",
                        written,
                        w.duplicated(),
                        malformed);
            }
            Oracle oracle = new Oracle(truth, window);

            // 2. The scoring job (runs until the end) and the pipeline job (bounded: ends with the events).
            StreamExecutionEnvironment scoringEnv = Environments.localRocksDb(1, "5 s");
            Properties client = new Properties();
            ScoringJob.build(
                    scoringEnv,
                    cfg,
                    KafkaIo.requests(cfg, false),
                    KafkaIo.models(cfg),
                    KafkaIo.scores(cfg, "demo"),
                    KafkaIo.deadLetters(cfg, "demo-scoring"));
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
            long t0 = System.nanoTime();
            JobClient pipeline = env.executeAsync("mmoe-demo-pipeline");
            // The local cluster of a finished job shuts down; watch the result, not the status.
            var result = pipeline.getJobExecutionResult();
            Thread hook = new Thread(() -> {
                stopping = true;
                out.println("demo: stopping");
                if (!result.isDone()) {
                    pipeline.cancel();
                }
                scoring.cancel();
            });
            Runtime.getRuntime().addShutdownHook(hook);

            // Held-out impressions from the same simulator: model and oracle AUC on the same rows.
            Simulator holdoutSim = new Simulator(o.seed(), 300, 100, 0.5, "default");
            for (long i = 0; i < impressions; i++) {
                holdoutSim.next(0, 1, 1); // skip the training stream
            }
            List<Simulator.Impression> holdout = new ArrayList<>();
            for (int i = 0; i < 20_000; i++) {
                holdout.add(holdoutSim.next(0, 1, 1));
            }
            double[] heldOut = {Double.NaN, Double.NaN, Double.NaN, Double.NaN};
            double[] sameRows = {Double.NaN, Double.NaN};
            List<double[]> curve = new ArrayList<>();
            SnapshotState last = null;
            int versions = 0;
            try (ModelReader reader = new ModelReader(kafka.bootstrapServers(), "model", "default", new Properties())) {
                long nextPrint = System.nanoTime();
                boolean done = false;
                while (!stopping) {
                    if (reader.poll(Duration.ofMillis(500)) > 0 || done) {
                        if (done) {
                            // The last versions may still be in flight: read until the topic is quiet.
                            reader.pollUntilQuiet(Duration.ofSeconds(3), Duration.ofMinutes(1));
                        }
                        last = reader.model("default");
                        versions = reader.versions().size();
                        if (last != null) {
                            JsonNode m =
                                    new ObjectMapper().readTree(last.metadata().get("metrics"));
                            heldOut = heldOut(last, holdout);
                            sameRows = oracle.at(last.examplesSeen());
                            curve.add(new double[] {
                                last.examplesSeen(),
                                m.path("ctr").path("auc").asDouble(Double.NaN),
                                m.path("cvr").path("auc").asDouble(Double.NaN),
                                sameRows[0],
                                sameRows[1]
                            });
                        }
                    }
                    if (System.nanoTime() > nextPrint || done) {
                        progress(kafka, last, versions, heldOut, sameRows, written, t0);
                        nextPrint = System.nanoTime() + 3_000_000_000L;
                    }
                    if (done) {
                        break;
                    }
                    done = result.isDone();
                }
            }
            double trainSeconds = (System.nanoTime() - t0) / 1e9;
            if (result.isCompletedExceptionally()) {
                result.get(); // rethrows the job's failure
            }

            // 3. Score requests with the published model.
            long scores = 0;
            if (!stopping && last != null) {
                int requests = 2_000;
                Simulator probe = new Simulator(o.seed() + 1, 300, 100, 0.5, "default");
                try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(
                        Map.of("bootstrap.servers", kafka.bootstrapServers()),
                        new ByteArraySerializer(),
                        new ByteArraySerializer())) {
                    for (int i = 0; i < requests; i++) {
                        Simulator.Impression imp = probe.next(System.currentTimeMillis(), 1, 1);
                        String json = "{\"request_id\":\"s" + i + "\",\"ts\":" + imp.ts()
                                + ",\"model\":\"default\",\"features\":" + imp.featuresJson() + "}";
                        p.send(new ProducerRecord<>("score-requests", json.getBytes(StandardCharsets.UTF_8)));
                    }
                }
                long deadline = System.nanoTime() + 60_000_000_000L;
                while (scores < requests && System.nanoTime() < deadline && !stopping) {
                    Thread.sleep(500);
                    scores = committedRecords(kafka, "scores");
                }
                out.printf(Locale.ROOT, "demo: scoring job scored %,d of %,d requests%n", scores, requests);
            }
            scoring.cancel().get();
            Runtime.getRuntime().removeShutdownHook(hook);
            long dead = committedRecords(kafka, "dead-letter");
            if (last != null) {
                report(
                        last,
                        heldOut,
                        sameRows,
                        last.examplesSeen() / trainSeconds,
                        versions,
                        dead,
                        malformed,
                        truth.size(),
                        scores,
                        curve);
            }
            out.printf(
                    Locale.ROOT,
                    "demo: done in %.0f s; %s%n",
                    (System.nanoTime() - started) / 1e9,
                    o.out().resolve("report.json"));
        }
    }

    private void progress(
            EmbeddedKafka kafka,
            SnapshotState last,
            int versions,
            double[] heldOut,
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
                last.examplesSeen(),
                last.examplesSeen() / secs,
                last.version(),
                m.path("ctr").path("auc").asDouble(Double.NaN),
                sameRows[0],
                m.path("cvr").path("auc").asDouble(Double.NaN),
                sameRows[1],
                heldOut[0],
                heldOut[1],
                heldOut[2],
                heldOut[3],
                committedRecords(kafka, "dead-letter"));
    }

    /**
     * The simulator's truth in the trainer's order (impression time, then request id): the oracle's
     * AUC on exactly the rows of the trainer's progressive window after {@code k} examples (ctr: the
     * last {@code window} impressions; cvr: the last {@code window} clicked ones).
     */
    static final class Oracle {
        private final List<Simulator.Impression> ordered;
        private final int window;

        Oracle(List<Simulator.Impression> truth, int window) {
            this.ordered = new ArrayList<>(truth);
            this.ordered.sort(java.util.Comparator.comparingLong(Simulator.Impression::ts)
                    .thenComparing(Simulator.Impression::requestId));
            this.window = window;
        }

        /** {ctr AUC, cvr AUC} of the oracle on the progressive window after {@code k} examples. */
        double[] at(long k) {
            int end = (int) Math.min(k, ordered.size());
            TaskMetrics ctr = new TaskMetrics();
            TaskMetrics cvr = new TaskMetrics();
            int clicked = 0;
            for (int i = end - 1; i >= 0 && (i >= end - window || clicked < window); i--) {
                Simulator.Impression imp = ordered.get(i);
                if (i >= end - window) {
                    ctr.add(imp.pClick(), imp.clicked());
                }
                if (imp.clicked() && clicked < window) {
                    cvr.add(imp.pConversion(), imp.converted());
                    clicked++;
                }
            }
            return new double[] {ctr.auc(), cvr.auc()};
        }
    }

    /**
     * Records visible to read_committed on {@code topic}. Not the end offsets: the exactly-once sinks'
     * transaction markers take offsets too.
     */
    private static long committedRecords(EmbeddedKafka kafka, String topic) {
        Map<String, Object> cfg = Map.of(
                "bootstrap.servers",
                kafka.bootstrapServers(),
                "isolation.level",
                "read_committed",
                "enable.auto.commit",
                "false");
        try (var c = new org.apache.kafka.clients.consumer.KafkaConsumer<byte[], byte[]>(
                cfg,
                new org.apache.kafka.common.serialization.ByteArrayDeserializer(),
                new org.apache.kafka.common.serialization.ByteArrayDeserializer())) {
            List<TopicPartition> parts = c.partitionsFor(topic).stream()
                    .map(p -> new TopicPartition(topic, p.partition()))
                    .toList();
            c.assign(parts);
            c.seekToBeginning(parts);
            Map<TopicPartition, Long> end = c.endOffsets(parts);
            long n = 0;
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (parts.stream().anyMatch(p -> c.position(p) < end.get(p)) && System.nanoTime() < deadline) {
                n += c.poll(Duration.ofMillis(200)).count();
            }
            return n;
        }
    }

    private static void putRounded(ObjectNode n, String key, double v) {
        if (Double.isFinite(v)) {
            n.put(key, Math.round(v * 1e6) / 1e6);
        } else {
            n.putNull(key);
        }
    }

    /** Held-out AUC of ctr and cvr for the model and the oracle: {model ctr, oracle ctr, model cvr, oracle cvr}. */
    private static double[] heldOut(SnapshotState s, List<Simulator.Impression> holdout) {
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
        return new double[] {mc.auc(), oc.auc(), mv.auc(), ov.auc()};
    }

    private void report(
            SnapshotState last,
            double[] heldOut,
            double[] sameRows,
            double examplesPerSecond,
            int versions,
            long dead,
            long malformed,
            long impressionsWritten,
            long scores,
            List<double[]> curve)
            throws Exception {
        JsonNode metrics = new ObjectMapper().readTree(last.metadata().get("metrics"));
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode r = json.createObjectNode();
        r.put("model", last.model().spec().architecture().variant().key());
        r.put("split", "progressive");
        ObjectNode tasks = r.putObject("tasks");
        for (String head : last.model().spec().heads()) {
            JsonNode h = metrics.path(head);
            ObjectNode t = tasks.putObject(head);
            t.set("auc", h.path("auc"));
            t.set("logloss", h.path("logloss"));
            t.set("calibration", h.path("calibration"));
            t.set("n", h.path("n"));
            if (head.equals("ctr")) {
                putRounded(t, "oracle_auc", sameRows[0]);
                putRounded(t, "heldout_auc", heldOut[0]);
                putRounded(t, "heldout_oracle_auc", heldOut[1]);
            } else if (head.equals("cvr")) {
                putRounded(t, "oracle_auc", sameRows[1]);
                putRounded(t, "heldout_auc", heldOut[2]);
                putRounded(t, "heldout_oracle_auc", heldOut[3]);
            }
        }
        r.put("examples_per_second", Math.round(examplesPerSecond));
        r.put("impressions_written", impressionsWritten);
        r.put("examples_trained", last.examplesSeen());
        r.put("model_versions", versions);
        r.put("dead_letters", dead);
        r.put("malformed_written", malformed);
        r.put("scores", scores);
        r.set("gates", metrics.path("gates"));
        json.writeValue(o.out().resolve("report.json").toFile(), r);

        XYSeries ctr = new XYSeries("ctr progressive AUC");
        XYSeries octr = new XYSeries("ctr oracle AUC, same examples");
        XYSeries cvr = new XYSeries("cvr progressive AUC");
        XYSeries ocvr = new XYSeries("cvr oracle AUC, same examples");
        XYSeries[] series = {ctr, cvr, octr, ocvr};
        for (double[] p : curve) {
            for (int i = 0; i < series.length; i++) {
                if (Double.isFinite(p[i + 1])) {
                    series[i].add(p[0], p[i + 1]);
                }
            }
        }
        XYSeriesCollection data = new XYSeriesCollection();
        for (XYSeries x : new XYSeries[] {ctr, octr, cvr, ocvr}) {
            data.addSeries(x);
        }
        JFreeChart chart = ChartFactory.createXYLineChart(
                "Progressive AUC at each version vs the oracle on the same examples",
                "examples trained",
                "AUC",
                data,
                PlotOrientation.VERTICAL,
                true,
                false,
                false);
        var plot = chart.getXYPlot();
        plot.getRangeAxis().setRange(0.45, 1.0);
        plot.setBackgroundPaint(java.awt.Color.WHITE);
        plot.setDomainGridlinePaint(java.awt.Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(java.awt.Color.LIGHT_GRAY);
        var renderer = plot.getRenderer();
        java.awt.Color blue = new java.awt.Color(31, 119, 180);
        java.awt.Color orange = new java.awt.Color(214, 95, 0);
        java.awt.BasicStroke solid = new java.awt.BasicStroke(2.2f);
        java.awt.BasicStroke dashed = new java.awt.BasicStroke(
                1.6f, java.awt.BasicStroke.CAP_BUTT, java.awt.BasicStroke.JOIN_MITER, 10f, new float[] {7f, 5f}, 0f);
        java.awt.Color[] colors = {blue, blue, orange, orange};
        for (int i = 0; i < 4; i++) {
            renderer.setSeriesPaint(i, colors[i]);
            renderer.setSeriesStroke(i, i % 2 == 0 ? solid : dashed);
        }
        ChartUtils.saveChartAsPNG(o.out().resolve("learning-curve.png").toFile(), chart, 1000, 600);
    }
}
