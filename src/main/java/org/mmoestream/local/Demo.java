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
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
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
 * checkpoints. Prints progress every few seconds; writes {@code report.json} and {@code
 * learning-curve.png} (progressive AUC per task against the simulator's oracle, over examples).
 */
public final class Demo {
  private static final int WINDOW = 10_000;

  /** Demo settings. */
  public record Options(long events, double rate, long seed, Path out, ModelSpec spec) {}

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
      kafka.createTopics(topics);
      JobConfig cfg = JobConfig.of(Map.of(Key.BOOTSTRAP.yaml(), kafka.bootstrapServers(),
          Key.CLICK_WINDOW.yaml(), "30 s", Key.CONVERSION_WINDOW.yaml(), "90 s", Key.OUT_OF_ORDERNESS.yaml(), "2 s",
          Key.BATCH_SIZE.yaml(), "64", Key.PUBLISH_INTERVAL.yaml(), "1 s", Key.FULL_EVERY.yaml(), "10",
          Key.SCORING_MAX_MODEL_AGE.yaml(), "0 ms"));

      // 1. The simulator's events, and the oracle's AUC on the last impressions.
      Simulator sim = new Simulator(o.seed(), 300, 100, 0.5, "default");
      long impressions = Math.max(1000, Math.round(o.events() / 1.42));
      // A tail of two minutes of event time (longer than the 90 s conversion window) after the
      // measured impressions lets their labels become final in the usual interleaved order; at
      // the end of input every pending join fires at once, clicked ones last, which is no measure.
      long tail = 12_000;
      Deque<Simulator.Impression> recent = new ArrayDeque<>();
      long[] seen = {0};
      long written;
      try (EventWriter w = new EventWriter(kafka.bootstrapServers(), "impressions", "clicks", "conversions", new Properties())) {
        written = w.write(sim, impressions + tail, o.rate(), 20_000, 60_000,
            (i, r) -> out.printf(Locale.ROOT, "demo: simulator wrote %,d impressions, %,d events%n", i, r),
            imp -> {
              if (seen[0]++ < impressions) {
                recent.addLast(imp);
                if (recent.size() > WINDOW) {
                  recent.removeFirst();
                }
              }
            });
      }
      TaskMetrics oracleCtr = new TaskMetrics();
      TaskMetrics oracleCvr = new TaskMetrics();
      for (Simulator.Impression imp : recent) {
        oracleCtr.add(imp.pClick(), imp.clicked());
        if (imp.clicked()) {
          oracleCvr.add(imp.pConversion(), imp.converted());
        }
      }
      out.printf(Locale.ROOT, "demo: %,d events written%n", written);

      // 2. The scoring job (runs until the end) and the pipeline job (bounded: ends with the events).
      StreamExecutionEnvironment scoringEnv = Environments.localRocksDb(1, "5 s");
      Properties client = new Properties();
      ScoringJob.build(scoringEnv, cfg, ScoringJob.kafkaRequests(cfg, false, client), ScoringJob.kafkaModels(cfg, false, client),
          ScoringJob.kafkaScores(cfg, "demo", client), PipelineJob.kafkaDeadLetters(cfg, "demo-scoring", client));
      JobClient scoring = scoringEnv.executeAsync("mmoe-demo-scoring");
      StreamExecutionEnvironment env = Environments.localRocksDb(2, "2 s");
      PipelineJob.build(env, cfg, o.spec(), PipelineJob.kafkaEvents(cfg, true, client), null,
          PipelineJob.kafkaDeadLetters(cfg, "demo", client), PipelineJob.kafkaModels(cfg, "demo", client));
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
      for (long i = 0; i < impressions + tail; i++) {
        holdoutSim.next(0, 1, 1); // skip the training stream
      }
      List<Simulator.Impression> holdout = new ArrayList<>();
      for (int i = 0; i < 20_000; i++) {
        holdout.add(holdoutSim.next(0, 1, 1));
      }
      double[] heldOut = {Double.NaN, Double.NaN, Double.NaN, Double.NaN};
      double[] live = heldOut;
      List<double[]> curve = new ArrayList<>();
      SnapshotState last = null;
      JsonNode reported = null;
      long reportedExamples = 0;
      int versions = 0;
      try (ModelReader reader = new ModelReader(kafka.bootstrapServers(), "model", "default", new Properties())) {
        long nextPrint = System.nanoTime();
        while (!stopping) {
          if (reader.poll(Duration.ofMillis(500)) > 0) {
            last = reader.model("default");
            versions = reader.versions().size();
            JsonNode m = new ObjectMapper().readTree(last.metadata().get("metrics"));
            live = heldOut(last, holdout);
            if (last.examplesSeen() <= impressions) {
              double[] h = live;
              System.arraycopy(h, 0, heldOut, 0, 4);
              curve.add(new double[] {last.examplesSeen(), h[0], h[2]});
              reported = m;
              reportedExamples = last.examplesSeen();
            }
          }
          boolean done = result.isDone();
          if (System.nanoTime() > nextPrint || done) {
            progress(kafka, last, versions, live, written, t0);
            nextPrint = System.nanoTime() + 3_000_000_000L;
          }
          if (done) {
            // The last versions may still be in flight: read until the topic is quiet.
            reader.pollUntilQuiet(Duration.ofSeconds(3), Duration.ofMinutes(1));
            last = reader.model("default");
            versions = reader.versions().size();
            break;
          }
        }
      }
      double trainSeconds = (System.nanoTime() - t0) / 1e9;
      if (reported == null && last != null) {
        // Every version already included the tail (a short stream): measure the last one.
        double[] h = heldOut(last, holdout);
        System.arraycopy(h, 0, heldOut, 0, 4);
        curve.add(new double[] {last.examplesSeen(), h[0], h[2]});
        reportedExamples = last.examplesSeen();
      }
      if (result.isCompletedExceptionally()) {
        result.get(); // rethrows the job's failure
      }

      // 3. Score requests with the published model.
      long scores = 0;
      if (!stopping && last != null) {
        int requests = 2_000;
        Simulator probe = new Simulator(o.seed() + 1, 300, 100, 0.5, "default");
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(Map.of("bootstrap.servers", kafka.bootstrapServers()),
            new ByteArraySerializer(), new ByteArraySerializer())) {
          for (int i = 0; i < requests; i++) {
            Simulator.Impression imp = probe.next(System.currentTimeMillis(), 1, 1);
            String json = "{\"request_id\":\"s" + i + "\",\"ts\":" + imp.ts() + ",\"model\":\"default\",\"features\":" + imp.featuresJson() + "}";
            p.send(new ProducerRecord<>("score-requests", json.getBytes(StandardCharsets.UTF_8)));
          }
        }
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (scores < requests && System.nanoTime() < deadline && !stopping) {
          Thread.sleep(500);
          scores = endOffsets(kafka, "scores");
        }
        out.printf(Locale.ROOT, "demo: scoring job scored %,d of %,d requests%n", scores, requests);
      }
      scoring.cancel().get();
      Runtime.getRuntime().removeShutdownHook(hook);
      long dead = endOffsets(kafka, "dead-letter");
      if (last != null) {
        report(last, heldOut, reported != null ? reported : new ObjectMapper().readTree(last.metadata().get("metrics")),
            reportedExamples, oracleCtr.auc(), oracleCvr.auc(), last.examplesSeen() / trainSeconds, versions, dead, scores, curve);
      }
      out.printf(Locale.ROOT, "demo: done in %.0f s; %s%n", (System.nanoTime() - started) / 1e9, o.out().resolve("report.json"));
    }
  }

  private void progress(EmbeddedKafka kafka, SnapshotState last, int versions, double[] heldOut, long written, long t0)
      throws Exception {
    double secs = (System.nanoTime() - t0) / 1e9;
    if (last == null) {
      out.printf(Locale.ROOT, "demo: %5.0f s  events in %,d  waiting for the first model version%n", secs, written);
      return;
    }
    JsonNode m = new ObjectMapper().readTree(last.metadata().get("metrics"));
    out.printf(Locale.ROOT, "demo: %5.0f s  events in %,d  trained %,d (%,.0f/s)  version %d  held-out AUC ctr %.3f (oracle %.3f)"
            + " cvr %.3f (oracle %.3f)  progressive ctr %.3f cvr %.3f  dead letters %d%n", secs, written, last.examplesSeen(),
        last.examplesSeen() / secs, last.version(), heldOut[0], heldOut[1], heldOut[2], heldOut[3],
        m.path("ctr").path("auc").asDouble(Double.NaN), m.path("cvr").path("auc").asDouble(Double.NaN), endOffsets(kafka, "dead-letter"));
  }

  private static long endOffsets(EmbeddedKafka kafka, String topic) throws Exception {
    try (Admin admin = kafka.admin()) {
      var parts = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions();
      Map<TopicPartition, OffsetSpec> q = new HashMap<>();
      parts.forEach(p -> q.put(new TopicPartition(topic, p.partition()), OffsetSpec.latest()));
      return admin.listOffsets(q).all().get().values().stream().mapToLong(v -> v.offset()).sum();
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
    org.mmoestream.train.ExampleEncoder enc = new org.mmoestream.train.ExampleEncoder(s.model().spec());
    double[][] p = s.model().predict(org.mmoestream.model.Batch.of(holdout.stream().map(i -> enc.encodeFeatures(i.featuresJson(), null)).toList()));
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

  private void report(SnapshotState last, double[] heldOut, JsonNode metrics, long measuredExamples, double oracleCtr, double oracleCvr,
      double examplesPerSecond, int versions, long dead, long scores, List<double[]> curve) throws Exception {
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
        putRounded(t, "oracle_auc", oracleCtr);
        putRounded(t, "heldout_auc", heldOut[0]);
        putRounded(t, "heldout_oracle_auc", heldOut[1]);
      } else if (head.equals("cvr")) {
        putRounded(t, "oracle_auc", oracleCvr);
        putRounded(t, "heldout_auc", heldOut[2]);
        putRounded(t, "heldout_oracle_auc", heldOut[3]);
      }
    }
    r.put("metrics_at_examples", measuredExamples);
    r.put("examples_per_second", Math.round(examplesPerSecond));
    r.put("examples_trained", last.examplesSeen());
    r.put("model_versions", versions);
    r.put("dead_letters", dead);
    r.put("scores", scores);
    r.set("gates", metrics.path("gates"));
    json.writeValue(o.out().resolve("report.json").toFile(), r);

    XYSeries ctr = new XYSeries("ctr held-out AUC of each version");
    XYSeries cvr = new XYSeries("cvr held-out AUC of each version");
    XYSeries octr = new XYSeries("ctr oracle (held-out)");
    XYSeries ocvr = new XYSeries("cvr oracle (held-out)");
    oracleCtr = heldOut[1];
    oracleCvr = heldOut[3];
    for (double[] p : curve) {
      if (Double.isFinite(p[1])) {
        ctr.add(p[0], p[1]);
      }
      if (Double.isFinite(p[2])) {
        cvr.add(p[0], p[2]);
      }
    }
    double maxX = curve.isEmpty() ? 1 : curve.get(curve.size() - 1)[0];
    octr.add(0, oracleCtr);
    octr.add(maxX, oracleCtr);
    ocvr.add(0, oracleCvr);
    ocvr.add(maxX, oracleCvr);
    XYSeriesCollection data = new XYSeriesCollection();
    data.addSeries(ctr);
    data.addSeries(cvr);
    data.addSeries(octr);
    data.addSeries(ocvr);
    JFreeChart chart = ChartFactory.createXYLineChart("Held-out AUC of each published model version vs the oracle",
        "examples trained", "AUC", data, PlotOrientation.VERTICAL, true, false, false);
    chart.getXYPlot().getRangeAxis().setRange(0.45, 1.0);
    ChartUtils.saveChartAsPNG(o.out().resolve("learning-curve.png").toFile(), chart, 1000, 600);
  }
}
