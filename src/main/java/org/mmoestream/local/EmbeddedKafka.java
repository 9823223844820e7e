package org.mmoestream.local;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.stream.Stream;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.MetadataVersion;

/**
 * A single-node Kafka broker in KRaft mode (broker and controller in one process), bound to the
 * loopback interface only, for the demo and the tests. Its log directory is formatted on first
 * start; a temporary directory is deleted on close.
 */
public final class EmbeddedKafka implements AutoCloseable {
    private final KafkaRaftServer server;
    private final Path dir;
    private final boolean deleteOnClose;
    private final int port;

    private EmbeddedKafka(KafkaRaftServer server, Path dir, boolean deleteOnClose, int port) {
        this.server = server;
        this.dir = dir;
        this.deleteOnClose = deleteOnClose;
        this.port = port;
    }

    /** Starts a broker on a free loopback port with a temporary log directory. */
    public static EmbeddedKafka start() throws IOException {
        return start(0, null);
    }

    /**
     * Starts a broker on {@code port} (0: a free one) with its logs in {@code dir} (null: a
     * temporary directory, deleted on close).
     */
    public static EmbeddedKafka start(int port, Path dir) throws IOException {
        boolean temp = dir == null;
        Path logDir = temp ? Files.createTempDirectory("mmoe-kafka-") : dir;
        Files.createDirectories(logDir);
        int brokerPort = port == 0 ? freePort() : port;
        int controllerPort = freePort();
        Properties p = new Properties();
        p.put("process.roles", "broker,controller");
        p.put("node.id", "1");
        p.put("controller.quorum.voters", "1@127.0.0.1:" + controllerPort);
        p.put("listeners", "PLAINTEXT://127.0.0.1:" + brokerPort + ",CONTROLLER://127.0.0.1:" + controllerPort);
        p.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + brokerPort);
        p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        p.put("controller.listener.names", "CONTROLLER");
        p.put("inter.broker.listener.name", "PLAINTEXT");
        p.put("log.dirs", logDir.toString());
        p.put("num.partitions", "1");
        p.put("offsets.topic.replication.factor", "1");
        p.put("offsets.topic.num.partitions", "5");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("transaction.state.log.num.partitions", "5");
        p.put("group.initial.rebalance.delay.ms", "0");
        p.put("share.coordinator.state.topic.replication.factor", "1");
        p.put("share.coordinator.state.topic.min.isr", "1");
        p.put("auto.create.topics.enable", "false");
        p.put("message.max.bytes", String.valueOf(8 * 1024 * 1024));
        p.put("log.retention.hours", "168");
        KafkaConfig config = new KafkaConfig(p, false);
        if (!Files.exists(logDir.resolve("meta.properties"))) {
            format(config, logDir);
        }
        KafkaRaftServer server = new KafkaRaftServer(config, Time.SYSTEM);
        server.startup();
        EmbeddedKafka k = new EmbeddedKafka(server, logDir, temp, brokerPort);
        k.awaitReady();
        return k;
    }

    private static void format(KafkaConfig config, Path logDir) {
        try {
            new Formatter()
                    .setPrintStream(new PrintStream(OutputStream.nullOutputStream()))
                    .setNodeId(1)
                    .setClusterId(Uuid.randomUuid().toString())
                    .setControllerListenerName("CONTROLLER")
                    .setMetadataLogDirectory(logDir.toString())
                    .setDirectories(List.of(logDir.toString()))
                    .setReleaseVersion(MetadataVersion.latestProduction())
                    .run();
        } catch (Exception e) {
            throw new IllegalStateException("cannot format the Kafka log directory " + logDir, e);
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private void awaitReady() {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (true) {
            try (Admin admin = admin()) {
                admin.describeCluster().nodes().get();
                return;
            } catch (Exception e) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("the embedded Kafka broker did not come up in 60 s", e);
                }
            }
        }
    }

    /** {@code 127.0.0.1:port}. */
    public String bootstrapServers() {
        return "127.0.0.1:" + port;
    }

    public Admin admin() {
        return Admin.create(Map.of(
                AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG,
                bootstrapServers(),
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG,
                10_000,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG,
                20_000));
    }

    /** Creates each topic (name -> partitions) unless it exists. */
    public void createTopics(Map<String, Integer> topics) {
        try (Admin admin = admin()) {
            Set<String> existing = admin.listTopics().names().get();
            List<NewTopic> fresh = topics.entrySet().stream()
                    .filter(t -> !existing.contains(t.getKey()))
                    .map(t -> new NewTopic(t.getKey(), t.getValue(), (short) 1))
                    .toList();
            admin.createTopics(fresh).all().get();
            awaitLeaders(admin, topics.keySet());
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw new IllegalStateException("cannot create topics " + topics.keySet(), e.getCause());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /**
     * Waits until the broker itself hosts a log for every partition of {@code topics}. The
     * controller names the leader before the broker has applied that metadata; a producer writing in
     * between gets NOT_LEADER_OR_FOLLOWER, and was seen to keep getting it until its delivery timeout.
     */
    private static void awaitLeaders(Admin admin, java.util.Collection<String> topics) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (true) {
            try {
                int expected = admin.describeTopics(topics).allTopicNames().get().values().stream()
                        .mapToInt(d -> d.partitions().size())
                        .sum();
                long hosted = admin.describeLogDirs(List.of(1)).allDescriptions().get().values().stream()
                        .flatMap(dirs -> dirs.values().stream())
                        .flatMap(d -> d.replicaInfos().keySet().stream())
                        .filter(tp -> topics.contains(tp.topic()))
                        .count();
                if (hosted >= expected) {
                    return;
                }
            } catch (ExecutionException e) {
                // metadata not yet propagated: try again
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the broker did not host the partitions of " + topics + " within 60 s");
            }
            Thread.sleep(50);
        }
    }

    /**
     * Records visible to read_committed on {@code topic}, from its beginning to its end offsets now.
     * Not the end offsets themselves: the exactly-once sinks' transaction markers take offsets too.
     */
    public long committedRecords(String topic) {
        return forEachCommitted(topic, java.time.Duration.ofSeconds(10), r -> {});
    }

    /**
     * Hands every record visible to read_committed on {@code topic}, from its beginning to its end
     * offsets now, to {@code each}, reading for at most {@code limit}; returns how many it read.
     */
    public long forEachCommitted(
            String topic,
            java.time.Duration limit,
            java.util.function.Consumer<org.apache.kafka.clients.consumer.ConsumerRecord<byte[], byte[]>> each) {
        Map<String, Object> cfg = Map.of(
                "bootstrap.servers",
                bootstrapServers(),
                "isolation.level",
                "read_committed",
                "enable.auto.commit",
                "false");
        try (var c = new org.apache.kafka.clients.consumer.KafkaConsumer<byte[], byte[]>(
                cfg,
                new org.apache.kafka.common.serialization.ByteArrayDeserializer(),
                new org.apache.kafka.common.serialization.ByteArrayDeserializer())) {
            List<org.apache.kafka.common.TopicPartition> parts = c.partitionsFor(topic).stream()
                    .map(p -> new org.apache.kafka.common.TopicPartition(topic, p.partition()))
                    .toList();
            c.assign(parts);
            c.seekToBeginning(parts);
            Map<org.apache.kafka.common.TopicPartition, Long> end = c.endOffsets(parts);
            long n = 0;
            long deadline = System.nanoTime() + limit.toNanos();
            while (parts.stream().anyMatch(p -> c.position(p) < end.get(p)) && System.nanoTime() < deadline) {
                for (var r : c.poll(java.time.Duration.ofMillis(200))) {
                    each.accept(r);
                    n++;
                }
            }
            return n;
        }
    }

    @Override
    public void close() {
        server.shutdown();
        server.awaitShutdown();
        if (deleteOnClose) {
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            } catch (IOException e) {
                // best effort: a temporary directory
            }
        }
    }
}
