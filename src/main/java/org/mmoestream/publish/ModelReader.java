package org.mmoestream.publish;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.mmoestream.config.KafkaClients;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.model.codec.Snapshots;

/**
 * Follows the model topic (no Flink) and keeps, per model id, the model rebuilt from the latest
 * full snapshot plus the deltas after it. Reads committed records only, so versions of aborted
 * transactions never appear. Not thread-safe: one thread polls.
 *
 * <p>A record that cannot be used never stops the reader: unreadable headers, a chunk that does
 * not follow, a version left incomplete, bytes that are not a snapshot, or a delta whose base is
 * not the current version are each {@linkplain #rejected() recorded} with the topic, partition
 * and offset of the record that showed the problem, and told to the listener; the last good
 * version stays current. Records without the {@code mmoe.*} headers at all are not model records
 * and are skipped silently.
 *
 * <p>{@link #catchUp} reads the topic up to its end as of the call and applies only what the
 * current state needs (per model, the last full snapshot and the deltas after it), so a reader
 * that starts late does not decode every old full snapshot.
 */
public final class ModelReader implements AutoCloseable {
    /** A version as it was read: id, number, kind and size. */
    public record Version(String model, long version, String kind, int chunks, int bytes) {}

    /** A record (or a version ending at it) that could not be used, and why. */
    public record Rejected(String topic, int partition, long offset, String reason) {
        @Override
        public String toString() {
            return topic + "/" + partition + "@" + offset + ": " + reason;
        }
    }

    /** A completed snapshot waiting to be applied, with where its last chunk was read. */
    private record Completed(ModelChunk last, byte[] bytes, ConsumerRecord<byte[], byte[]> at) {}

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final String topic;
    private final Map<String, SnapshotState> models = new LinkedHashMap<>();
    private final ChunkAssembler chunks = new ChunkAssembler();
    private final List<Version> versions = new ArrayList<>();
    private final List<Rejected> rejected = new ArrayList<>();
    private final String onlyModel;
    private Consumer<Rejected> listener = r -> {};
    private long nextAssignCheck;

    /** A reader of {@code topic} from the beginning; {@code model} null reads every model. */
    public ModelReader(String bootstrap, String topic, String model, Properties client) {
        Properties p = new Properties();
        p.putAll(KafkaClients.consumer(bootstrap, client, true));
        p.put("max.partition.fetch.bytes", String.valueOf(16 * 1024 * 1024));
        p.put("fetch.max.bytes", String.valueOf(64 * 1024 * 1024));
        consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        this.topic = topic;
        onlyModel = model;
        assign();
    }

    /** Tells {@code l} about every rejected record from now on (also kept in {@link #rejected()}). */
    public ModelReader onRejected(Consumer<Rejected> l) {
        listener = l;
        return this;
    }

    /** Assigns every partition of the topic (no consumer group), once the topic exists. */
    private boolean assign() {
        if (!consumer.assignment().isEmpty()) {
            return true;
        }
        long now = System.nanoTime();
        if (now < nextAssignCheck) {
            return false;
        }
        nextAssignCheck = now + 1_000_000_000L;
        List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(10));
        if (infos == null || infos.isEmpty()) {
            return false;
        }
        List<TopicPartition> parts = infos.stream()
                .map(i -> new TopicPartition(topic, i.partition()))
                .toList();
        consumer.assign(parts);
        consumer.seekToBeginning(parts);
        return true;
    }

    /** Reads what arrived within {@code timeout}; returns the number of versions applied. */
    public int poll(Duration timeout) {
        if (!assign()) {
            sleep(timeout);
            return 0;
        }
        int done = 0;
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(timeout)) {
            Completed c = assemble(r);
            if (c != null && apply(c)) {
                done++;
            }
        }
        return done;
    }

    /**
     * Reads the topic up to its end offsets as of this call (or until {@code max} has passed) and
     * applies, per model, the last full snapshot and the deltas after it; returns the number of
     * versions applied. Versions superseded by a later full snapshot are counted as read, not applied.
     */
    public int catchUp(Duration max) {
        long deadline = System.nanoTime() + max.toNanos();
        while (!assign()) {
            if (System.nanoTime() > deadline) {
                return 0;
            }
            sleep(Duration.ofMillis(200));
        }
        Map<TopicPartition, Long> end = consumer.endOffsets(consumer.assignment());
        Map<String, List<Completed>> queued = new HashMap<>();
        while (System.nanoTime() < deadline && !reached(end)) {
            for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                Completed c = assemble(r);
                if (c == null) {
                    continue;
                }
                List<Completed> q = queued.computeIfAbsent(c.last().model, k -> new ArrayList<>());
                if (Snapshots.FULL.equals(c.last().kind)) {
                    // A full snapshot supersedes what came before it, if it is one: a corrupted record
                    // claiming to be a full snapshot must not throw the last good version away.
                    try {
                        SnapshotState.checkFull(c.bytes());
                    } catch (RuntimeException e) {
                        reject(
                                c.at(),
                                "version " + c.last().version + " of model '" + c.last().model
                                        + "' is not a readable snapshot: " + e.getMessage());
                        continue;
                    }
                    q.clear();
                }
                q.add(c);
            }
        }
        int done = 0;
        for (List<Completed> q : queued.values()) {
            for (Completed c : q) {
                if (apply(c)) {
                    done++;
                }
            }
        }
        return done;
    }

    private boolean reached(Map<TopicPartition, Long> end) {
        for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
            if (consumer.position(e.getKey()) < e.getValue()) {
                return false;
            }
        }
        return true;
    }

    /** The snapshot {@code r} completes, or null; problems on the way are rejected. */
    private Completed assemble(ConsumerRecord<byte[], byte[]> r) {
        ModelChunk c;
        try {
            c = ModelRecords.chunkOf(r);
        } catch (IllegalArgumentException e) {
            reject(r, "model record " + e.getMessage());
            return null;
        }
        if (c == null || (onlyModel != null && !onlyModel.equals(c.model))) {
            return null;
        }
        byte[] snapshot = chunks.add(c, problem -> reject(r, problem));
        return snapshot == null ? null : new Completed(c, snapshot, r);
    }

    /** Applies a completed snapshot; false (and rejected) when it cannot be applied. */
    private boolean apply(Completed c) {
        ModelChunk last = c.last();
        SnapshotState current = models.get(last.model);
        SnapshotState s = current == null ? new SnapshotState() : current;
        long before = s.version();
        try {
            if (!s.apply(c.bytes())) {
                reject(
                        c.at(),
                        "delta version " + last.version + " of model '" + last.model + "' does not follow version "
                                + before + ": ignored until the next full snapshot");
                return false;
            }
        } catch (RuntimeException e) {
            reject(
                    c.at(),
                    "version " + last.version + " of model '" + last.model + "' is not a readable snapshot: "
                            + e.getMessage());
            return false;
        }
        if (current == null) {
            models.put(last.model, s);
        }
        versions.add(new Version(last.model, last.version, last.kind, last.chunks, c.bytes().length));
        return true;
    }

    private void reject(ConsumerRecord<byte[], byte[]> r, String reason) {
        Rejected x = new Rejected(r.topic(), r.partition(), r.offset(), reason);
        rejected.add(x);
        listener.accept(x);
    }

    private static void sleep(Duration d) {
        try {
            Thread.sleep(Math.max(1, d.toMillis()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Polls at least up to the topic's end offsets as of this call, then until no version has
     * completed for {@code quiet} (or until {@code max} has passed); returns the number of versions
     * completed meanwhile.
     */
    public int pollUntilQuiet(Duration quiet, Duration max) {
        int done = 0;
        long deadline = System.nanoTime() + max.toNanos();
        while (!assign() && System.nanoTime() < deadline) {
            sleep(Duration.ofMillis(200));
        }
        Map<TopicPartition, Long> end =
                consumer.assignment().isEmpty() ? Map.of() : consumer.endOffsets(consumer.assignment());
        while (System.nanoTime() < deadline && !reached(end)) {
            done += poll(Duration.ofMillis(300));
        }
        long lastNew = System.nanoTime();
        while (System.nanoTime() < deadline && System.nanoTime() - lastNew < quiet.toNanos()) {
            int n = poll(Duration.ofMillis(300));
            if (n > 0) {
                done += n;
                lastNew = System.nanoTime();
            }
        }
        return done;
    }

    /** The rebuilt state of {@code model}, or null before its first full snapshot. */
    public SnapshotState model(String model) {
        return models.get(model);
    }

    public Map<String, SnapshotState> models() {
        return models;
    }

    /** Every version applied so far, in order. */
    public List<Version> versions() {
        return versions;
    }

    /** Every record rejected so far, in order. */
    public List<Rejected> rejected() {
        return rejected;
    }

    /** Wakes a thread blocked in {@link #poll} (from another thread). */
    public void wakeup() {
        consumer.wakeup();
    }

    @Override
    public void close() {
        consumer.close();
    }
}
