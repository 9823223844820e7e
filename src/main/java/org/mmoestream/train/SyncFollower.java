package org.mmoestream.train;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.mmoestream.config.KafkaClients;
import org.mmoestream.publish.ChunkAssembler;
import org.mmoestream.publish.ModelChunk;
import org.mmoestream.publish.ModelRecords;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A thread that reads one model's synchronization versions from the sync topic and queues each
 * complete one for the replica's task thread, which moves onto them between batches. It reads
 * from the end of the topic as it is when the follower is made (before the replica's hello, which
 * the reducer answers with a full version), so a starting replica reads nothing old; and it reads
 * uncommitted records (the sync sink is not transactional: a version is the reducer's model after a
 * round, whether or not the checkpoint that follows completes; after a failure the replicas start
 * over from a full version).
 */
final class SyncFollower implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SyncFollower.class);

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final String topic;
    private final String model;
    private final LinkedBlockingQueue<byte[]> ready = new LinkedBlockingQueue<>();
    private final Thread thread;
    private volatile boolean stop;
    /** Why the reading thread stopped on its own (a Kafka error), for the task thread to fail with. */
    private volatile Exception failure;

    SyncFollower(String bootstrap, String topic, String model, Properties client) {
        Properties p = new Properties();
        // The sync topic is written without transactions: read every record, without waiting for markers.
        p.putAll(KafkaClients.consumer(bootstrap, client, false));
        p.put("max.partition.fetch.bytes", String.valueOf(64 * 1024 * 1024));
        p.put("fetch.max.bytes", String.valueOf(128 * 1024 * 1024));
        p.put("fetch.max.wait.ms", "50");
        // A version is a megabyte or more: let the kernel size the socket buffer (autotuning) rather
        // than read it 64 KB at a time.
        p.put("receive.buffer.bytes", "-1");
        this.consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        this.topic = topic;
        this.model = model;
        try {
            List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(30));
            if (infos == null || infos.isEmpty()) {
                throw new IllegalStateException("the sync topic " + topic + " does not exist (topics.train-sync;"
                        + " create it with one partition, see deploy/)");
            }
            List<TopicPartition> parts = infos.stream()
                    .map(i -> new TopicPartition(topic, i.partition()))
                    .toList();
            consumer.assign(parts);
            consumer.seekToEnd(parts);
            parts.forEach(consumer::position);
        } catch (RuntimeException e) {
            // A broker that cannot be reached, or no topic: the task fails and restarts, without a consumer left open.
            consumer.close();
            throw e;
        }
        thread = new Thread(this::run, "mmoe-sync-follower-" + model);
        thread.setDaemon(true);
        thread.start();
    }

    /**
     * The complete versions read since the last call, oldest first; IllegalStateException when the
     * reading thread has stopped on a Kafka error (so the task fails now, with that error).
     */
    List<byte[]> drain() {
        Exception e = failure;
        if (e != null) {
            throw new IllegalStateException(
                    "the sync follower of model '" + model + "' on topic " + topic + " stopped: " + e, e);
        }
        List<byte[]> out = new ArrayList<>();
        for (byte[] b; (b = ready.poll()) != null; ) {
            out.add(b);
        }
        return out;
    }

    /** As {@link #drain()}, first waiting up to {@code millis} for a version when none has come. */
    List<byte[]> await(long millis) throws InterruptedException {
        byte[] first = ready.poll(millis, TimeUnit.MILLISECONDS);
        List<byte[]> rest = drain();
        if (first == null) {
            return rest;
        }
        List<byte[]> out = new ArrayList<>(1 + rest.size());
        out.add(first);
        out.addAll(rest);
        return out;
    }

    private void run() {
        try {
            ChunkAssembler chunks = new ChunkAssembler();
            while (!stop) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                    ModelChunk c;
                    try {
                        c = ModelRecords.chunkOf(r);
                    } catch (IllegalArgumentException e) {
                        LOG.warn(
                                "skipping record {}-{}@{} of the sync topic: {}",
                                r.topic(),
                                r.partition(),
                                r.offset(),
                                e.getMessage());
                        continue;
                    }
                    byte[] bytes = c == null || !model.equals(c.model) ? null : chunks.add(c);
                    if (bytes != null) {
                        ready.add(bytes);
                    }
                }
            }
        } catch (WakeupException e) {
            // closing
        } catch (Exception e) {
            if (!stop) {
                LOG.warn("the sync follower of model '{}' stopped: {}", model, e.toString());
                failure = e;
            }
        } finally {
            consumer.close();
        }
    }

    @Override
    public void close() throws InterruptedException {
        stop = true;
        consumer.wakeup();
        thread.join(10_000);
    }
}
