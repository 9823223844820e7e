package org.mmoestream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.local.LocalCluster;
import org.mmoestream.publish.ModelChunk;
import org.mmoestream.publish.ModelRecords;
import org.mmoestream.testing.CommandRun;
import org.mmoestream.testing.CtrCvrCsv;

/**
 * The long-running commands as a user runs them, each in its own JVM: {@code kafka} starts a broker
 * with the jobs' topics, {@code scoring --config} scores a request with a model put on the model
 * topic, and both stop cleanly on SIGTERM (Ctrl-C); and {@code model score} scores a request from
 * the same snapshot file on the command line.
 */
class ServiceCommandsITCase {
    @TempDir
    Path dir;

    /** {@code bin/mmoe ARGS} in a new JVM of {@code heap} with this JVM's classpath; output to {@code log}. */
    private static Process start(Path log, String heap, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx" + heap,
                "--add-opens=java.base/java.util=ALL-UNNAMED",
                "--add-opens=java.base/java.lang=ALL-UNNAMED",
                "--add-opens=java.base/java.nio=ALL-UNNAMED",
                "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
                "-cp",
                LocalCluster.testClassPath(),
                "org.mmoestream.cli.Main"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("OMP_NUM_THREADS", "1");
        return pb.start();
    }

    private static void awaitLine(Path log, String text, Process p, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (Files.exists(log) && Files.readString(log).contains(text)) {
                return;
            }
            assertTrue(p.isAlive(), "the command ended early:\n" + Files.readString(log));
            Thread.sleep(200);
        }
        throw new AssertionError("no '" + text + "' within " + timeout + ":\n" + Files.readString(log));
    }

    private static List<String> deadLetters(String bootstrap) {
        List<String> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(
                Map.of("bootstrap.servers", bootstrap, "group.id", "service-it-dead", "auto.offset.reset", "earliest"),
                new ByteArrayDeserializer(),
                new ByteArrayDeserializer())) {
            c.subscribe(List.of("dead-letter"));
            for (int i = 0; i < 5; i++) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofSeconds(1))) {
                    out.add(new String(r.value(), StandardCharsets.UTF_8));
                }
            }
        }
        return out.subList(0, Math.min(3, out.size()));
    }

    @Test
    void kafkaAndScoringRunUntilStopped() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        String bootstrap = "127.0.0.1:" + port;
        Path kafkaLog = dir.resolve("kafka.log");
        Process kafka = start(kafkaLog, "1g", "kafka", "--port", String.valueOf(port));
        Process scoring = null;
        try {
            awaitLine(kafkaLog, "kafka: listening on " + bootstrap, kafka, Duration.ofSeconds(60));
            try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
                Set<String> topics = admin.listTopics().names().get(30, TimeUnit.SECONDS);
                assertTrue(
                        topics.containsAll(List.of(
                                "impressions",
                                "clicks",
                                "conversions",
                                "score-requests",
                                "scores",
                                "dead-letter",
                                "model")),
                        topics.toString());
            }
            // A model on the model topic: a small one trained offline.
            Path csv = CtrCvrCsv.write(dir.resolve("history.csv"), 64);
            Path snapshot = dir.resolve("m.safetensors");
            CommandRun t = CommandRun.of(
                    "train-file",
                    "--spec",
                    "examples/ctr-cvr.yaml",
                    "--train",
                    csv.toString(),
                    "--save",
                    snapshot.toString(),
                    "--model-id",
                    "default",
                    "--out",
                    dir.resolve("r.json").toString());
            assertEquals(0, t.status(), t.err());
            // model score: one request scored from the snapshot file on the command line.
            CommandRun one = CommandRun.of(
                    "model",
                    "score",
                    "--snapshot",
                    snapshot.toString(),
                    "--request",
                    "{\"request_id\":\"q1\",\"model\":\"default\",\"features\":{\"user\":\"u1\",\"item\":\"i2\"}}");
            assertEquals(0, one.status(), one.err());
            JsonNode q = new ObjectMapper().readTree(one.out());
            assertEquals("q1", q.get("request_id").asText(), one.out());
            assertTrue(
                    q.get("ctcvr").asDouble() > 0
                            && q.get("ctcvr").asDouble() < q.get("ctr").asDouble(),
                    one.out());
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(
                    Map.of("bootstrap.servers", bootstrap), new ByteArraySerializer(), new ByteArraySerializer())) {
                ModelRecords records = new ModelRecords("model");
                for (ModelChunk c : ModelChunk.split("default", 0, "full", Files.readAllBytes(snapshot), 900_000)) {
                    p.send(records.serialize(c, null, null)).get();
                }
            }
            Path job = dir.resolve("job.yaml");
            Files.writeString(job, "kafka.bootstrap-servers: " + bootstrap + "\nkafka.group-id: service-it\n");
            Path scoringLog = dir.resolve("scoring.log");
            scoring = start(scoringLog, "3g", "scoring", "--config", job.toString());
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(
                            Map.of("bootstrap.servers", bootstrap),
                            new ByteArraySerializer(),
                            new ByteArraySerializer());
                    KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(
                            Map.of(
                                    "bootstrap.servers",
                                    bootstrap,
                                    "group.id",
                                    "service-it-reader",
                                    "auto.offset.reset",
                                    "earliest"),
                            new ByteArrayDeserializer(),
                            new ByteArrayDeserializer())) {
                c.subscribe(List.of("scores"));
                JsonNode score = null;
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                for (int i = 0; score == null && System.nanoTime() < deadline; i++) {
                    // Requests until the job runs and answers one (those sent before it read the topic count too).
                    String request = "{\"request_id\":\"r" + i + "\",\"ts\":" + System.currentTimeMillis()
                            + ",\"model\":\"default\","
                            + "\"features\":{\"user\":\"u1\",\"item\":\"i2\",\"device\":\"d0\",\"price\":12}}";
                    p.send(new ProducerRecord<>("score-requests", request.getBytes(StandardCharsets.UTF_8)));
                    p.flush();
                    for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofSeconds(2))) {
                        score = new ObjectMapper().readTree(r.value());
                    }
                    assertTrue(scoring.isAlive(), "scoring ended early:\n" + Files.readString(scoringLog));
                }
                assertTrue(
                        score != null,
                        "a score within 120 s; dead letters " + deadLetters(bootstrap) + "; the command's output:\n"
                                + Files.readString(scoringLog));
                assertEquals("default", score.get("model").asText(), score.toString());
                // The offline model's version (train-file --save writes version 0).
                assertEquals(0, score.get("model_version").asLong(), score.toString());
                double ctr = score.get("ctr").asDouble();
                assertTrue(ctr > 0 && ctr < 1, score.toString());
            }
        } finally {
            if (scoring != null) {
                scoring.destroy();
                assertTrue(scoring.waitFor(60, TimeUnit.SECONDS), "scoring stops on SIGTERM");
            }
            kafka.destroy();
            assertTrue(kafka.waitFor(60, TimeUnit.SECONDS), "kafka stops on SIGTERM");
        }
    }
}
