package org.mmoestream.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.job.KafkaIo;
import org.mmoestream.job.PipelineJob;
import org.mmoestream.job.ScoringJob;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.SpecLoader;
import org.mmoestream.simulate.Simulator;
import org.mmoestream.testing.FlinkCluster;
import org.mmoestream.testing.KafkaBroker;

/**
 * Every metric the Grafana dashboard ({@code deploy/grafana/mmoe-stream.json}) queries is one the
 * jobs register: the pipeline and scoring jobs run on a MiniCluster with the Prometheus reporter
 * of {@code flink-conf/} (and RocksDB's native size metric), simulated events and score requests go
 * through them, and the reporter's output is scraped until it has every name the dashboard's
 * queries use.
 */
class DashboardMetricsITCase {
    static final Path DASHBOARD = Path.of("deploy/grafana/mmoe-stream.json");
    private static final String PORTS = "9250-9270";

    private static Configuration config() {
        Configuration c = FlinkCluster.config();
        c.setString(
                "metrics.reporter.prom.factory.class", "org.apache.flink.metrics.prometheus.PrometheusReporterFactory");
        c.setString("metrics.reporter.prom.port", PORTS);
        c.setString("state.backend.rocksdb.metrics.estimate-live-data-size", "true");
        return c;
    }

    @RegisterExtension
    static final MiniClusterExtension FLINK = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1)
            .setNumberSlotsPerTaskManager(4)
            .setConfiguration(config())
            .build());

    @RegisterExtension
    static final KafkaBroker KAFKA = new KafkaBroker();

    /**
     * What the dashboard's queries need: each metric named in a query, and each {@code
     * __name__=~"regex"} selector as {@code ~regex} (at least one exposed name must match it).
     */
    static Set<String> dashboardMetrics() throws IOException {
        JsonNode d = new ObjectMapper().readTree(Files.readString(DASHBOARD));
        Set<String> names = new TreeSet<>();
        Pattern selector = Pattern.compile("__name__=~\"([^\"]+)\"");
        Pattern metric = Pattern.compile("\\bflink_[a-z0-9_]+");
        for (JsonNode expr : d.findValues("expr")) {
            Matcher s = selector.matcher(expr.asText());
            while (s.find()) {
                names.add("~" + s.group(1));
            }
            // Metric names outside quoted strings (label values and regexes are quoted).
            Matcher m = metric.matcher(expr.asText().replaceAll("\"[^\"]*\"", "\"\""));
            while (m.find()) {
                names.add(m.group());
            }
        }
        return names;
    }

    /** Removes from {@code missing} what {@code exposed} satisfies. */
    private static void satisfy(Set<String> missing, Set<String> exposed) {
        missing.removeIf(w ->
                w.startsWith("~") ? exposed.stream().anyMatch(n -> n.matches(w.substring(1))) : exposed.contains(w));
    }

    /** The metric names the reporter exposes now, on any port of the range. */
    private static Set<String> exposed(HttpClient http) {
        Set<String> names = new TreeSet<>();
        for (int port = 9250; port <= 9270; port++) {
            try {
                HttpResponse<String> r = http.send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                                .timeout(Duration.ofSeconds(2))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
                for (String line : r.body().split("\n")) {
                    if (!line.isEmpty() && !line.startsWith("#")) {
                        names.add(line.split("[{ ]", 2)[0]);
                    }
                }
            } catch (IOException | InterruptedException e) {
                // no reporter on this port
            }
        }
        return names;
    }

    /**
     * Draws the dashboard's layout (rows and panels on Grafana's 24-column grid, with their titles)
     * to {@code out}: the picture the README shows.
     */
    static void drawLayout(Path out) throws IOException {
        JsonNode d = new ObjectMapper().readTree(Files.readString(DASHBOARD));
        int cell = 44;
        int rowHeight = 30;
        int width = 24 * cell;
        int height = 0;
        for (JsonNode panel : d.get("panels")) {
            height = Math.max(
                    height,
                    (panel.at("/gridPos/y").asInt() + panel.at("/gridPos/h").asInt()) * rowHeight);
        }
        java.awt.image.BufferedImage img =
                new java.awt.image.BufferedImage(width + 20, height + 60, java.awt.image.BufferedImage.TYPE_INT_RGB);
        java.awt.Graphics2D g = img.createGraphics();
        g.setRenderingHint(java.awt.RenderingHints.KEY_ANTIALIASING, java.awt.RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(new java.awt.Color(24, 27, 31));
        g.fillRect(0, 0, img.getWidth(), img.getHeight());
        g.setColor(java.awt.Color.WHITE);
        g.setFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.BOLD, 18));
        g.drawString(
                "Grafana dashboard " + d.get("title").asText() + " (deploy/grafana/mmoe-stream.json): layout", 10, 30);
        for (JsonNode panel : d.get("panels")) {
            int x = 10 + panel.at("/gridPos/x").asInt() * cell;
            int y = 50 + panel.at("/gridPos/y").asInt() * rowHeight;
            int w = panel.at("/gridPos/w").asInt() * cell;
            int h = panel.at("/gridPos/h").asInt() * rowHeight;
            boolean row = panel.get("type").asText().equals("row");
            g.setColor(row ? new java.awt.Color(24, 27, 31) : new java.awt.Color(34, 37, 43));
            g.fillRect(x + 2, y + 2, w - 4, h - 4);
            g.setColor(row ? new java.awt.Color(110, 159, 255) : new java.awt.Color(204, 204, 220));
            g.setFont(new java.awt.Font(
                    java.awt.Font.SANS_SERIF, row ? java.awt.Font.BOLD : java.awt.Font.PLAIN, row ? 15 : 12));
            g.drawString(panel.get("title").asText(), x + 8, y + 20);
            if (!row) {
                g.setColor(new java.awt.Color(115, 191, 105));
                g.setFont(new java.awt.Font(java.awt.Font.MONOSPACED, java.awt.Font.PLAIN, 10));
                int line = 0;
                for (JsonNode t : panel.get("targets")) {
                    String e = t.get("expr").asText().replace("flink_taskmanager_job_task_operator_", "");
                    g.drawString(e.length() > 70 ? e.substring(0, 70) + "..." : e, x + 8, y + 42 + 14 * line++);
                }
            }
        }
        g.dispose();
        javax.imageio.ImageIO.write(img, "png", out.toFile());
    }

    @Test
    void everyMetricTheDashboardQueriesIsOneTheJobsRegister() throws Exception {
        drawLayout(Path.of("target/dashboard-layout.png"));
        Set<String> wanted = dashboardMetrics();
        assertTrue(wanted.size() >= 10, "the dashboard queries " + wanted);
        Map<String, String> m = new HashMap<>(JobConfig.topicsWithPrefix("dash"));
        m.put(Key.BOOTSTRAP.yaml(), KAFKA.bootstrapServers());
        m.put(Key.GROUP_ID.yaml(), "dash");
        m.put(Key.CLICK_WINDOW.yaml(), "2 s");
        m.put(Key.CONVERSION_WINDOW.yaml(), "4 s");
        m.put(Key.OUT_OF_ORDERNESS.yaml(), "1 s");
        m.put(Key.BATCH_SIZE.yaml(), "32");
        m.put(Key.PUBLISH_INTERVAL.yaml(), "500 ms");
        JobConfig cfg = JobConfig.of(m);
        KAFKA.createTopics(Map.of(
                cfg.string(Key.TOPIC_IMPRESSIONS), 1,
                cfg.string(Key.TOPIC_CLICKS), 1,
                cfg.string(Key.TOPIC_CONVERSIONS), 1,
                cfg.string(Key.TOPIC_DEAD_LETTER), 1,
                cfg.string(Key.TOPIC_MODEL), 1,
                cfg.string(Key.TOPIC_SCORE_REQUESTS), 1,
                cfg.string(Key.TOPIC_SCORES), 1));
        ModelSpec spec = SpecLoader.load(Path.of("examples/ctr-cvr.yaml"));
        StreamExecutionEnvironment pipelineEnv = StreamExecutionEnvironment.getExecutionEnvironment(config());
        pipelineEnv.setParallelism(1);
        PipelineJob.build(
                pipelineEnv,
                cfg,
                spec,
                KafkaIo.events(cfg, false),
                null,
                KafkaIo.deadLetters(cfg, "dash-p"),
                KafkaIo.modelSink(cfg, "dash-p"));
        JobClient pipeline = pipelineEnv.executeAsync("dash-pipeline");
        StreamExecutionEnvironment scoringEnv = StreamExecutionEnvironment.getExecutionEnvironment(config());
        scoringEnv.setParallelism(1);
        ScoringJob.buildOnKafka(scoringEnv, cfg, "dash-s");
        JobClient scoring = scoringEnv.executeAsync("dash-scoring");
        HttpClient http =
                HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
        Set<String> missing = new TreeSet<>(wanted);
        Simulator sim = new Simulator(5, 300, 100, 0.5, "m1");
        try (KafkaProducer<String, String> p = new KafkaProducer<>(
                Map.of("bootstrap.servers", KAFKA.bootstrapServers()),
                new StringSerializer(),
                new StringSerializer())) {
            long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
            int round = 0;
            while (!missing.isEmpty() && System.nanoTime() < deadline) {
                // Live events (and one malformed record) and requests, so every metric has something to show.
                long now = System.currentTimeMillis();
                for (int i = 0; i < 500; i++) {
                    Simulator.Impression imp = sim.next(now, 1_000, 2_000);
                    p.send(new ProducerRecord<>(
                            cfg.string(Key.TOPIC_IMPRESSIONS), imp.requestId(), Simulator.impressionJson(imp)));
                    if (imp.clicked()) {
                        p.send(new ProducerRecord<>(
                                cfg.string(Key.TOPIC_CLICKS), imp.requestId(), Simulator.clickJson(imp)));
                    }
                    if (imp.converted()) {
                        p.send(new ProducerRecord<>(
                                cfg.string(Key.TOPIC_CONVERSIONS), imp.requestId(), Simulator.conversionJson(imp)));
                    }
                    p.send(new ProducerRecord<>(
                            cfg.string(Key.TOPIC_SCORE_REQUESTS),
                            "s" + round + "-" + i,
                            Simulator.impressionJson(imp).replace(imp.requestId(), "s" + round + "-" + i)));
                }
                p.send(new ProducerRecord<>(cfg.string(Key.TOPIC_CLICKS), "bad", "not json"));
                p.flush();
                round++;
                Thread.sleep(1_000);
                satisfy(missing, exposed(http));
            }
            Set<String> all = exposed(http);
            Files.writeString(
                    Path.of("target/prometheus-metric-names.txt"), String.join("\n", all), StandardCharsets.UTF_8);
            assertEquals(
                    Set.of(),
                    missing,
                    "metrics the dashboard queries that the jobs do not register"
                            + " (all: target/prometheus-metric-names.txt)");
        } finally {
            pipeline.cancel().get();
            scoring.cancel().get();
        }
    }
}
