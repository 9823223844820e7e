package org.mmoestream.config;

import java.util.Properties;

/**
 * The properties of every plain Kafka client the project opens outside Flink's connectors (the
 * model reader and followers, the replicas' sync follower, the event writer of {@code simulate}
 * and {@code replay}): the bootstrap servers, the job's {@code kafka.client.*} properties (SASL,
 * SSL, ...) and the guarantees, set here once. The jobs' Flink sources and sinks are built by
 * {@code job.KafkaIo} from the same {@link JobConfig#clientProperties()}, reading committed data.
 */
public final class KafkaClients {
    private KafkaClients() {}

    /**
     * A consumer that commits no offsets and reads only committed records ({@code readCommitted}),
     * or every record (a topic written without transactions, where waiting for markers costs
     * latency).
     */
    public static Properties consumer(String bootstrap, Properties client, boolean readCommitted) {
        Properties p = new Properties();
        p.putAll(client);
        p.put("bootstrap.servers", bootstrap);
        p.put("enable.auto.commit", "false");
        p.put("isolation.level", readCommitted ? "read_committed" : "read_uncommitted");
        return p;
    }

    /** A producer that waits for every in-sync replica and does not duplicate on retries. */
    public static Properties producer(String bootstrap, Properties client) {
        Properties p = new Properties();
        p.putAll(client);
        p.put("bootstrap.servers", bootstrap);
        p.put("acks", "all");
        p.put("enable.idempotence", "true");
        return p;
    }
}
