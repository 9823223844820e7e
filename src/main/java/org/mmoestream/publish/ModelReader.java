package org.mmoestream.publish;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.mmoestream.model.codec.SnapshotState;

/**
 * Follows the model topic (no Flink) and keeps, per model id, the model rebuilt from the latest
 * full snapshot plus the deltas after it. Reads committed records only, so versions of aborted
 * transactions never appear. Not thread-safe: one thread polls.
 */
public final class ModelReader implements AutoCloseable {
  /** A version as it was read: id, number, kind and size. */
  public record Version(String model, long version, String kind, int chunks, int bytes) {}

  private final KafkaConsumer<byte[], byte[]> consumer;
  private final Map<String, SnapshotState> models = new LinkedHashMap<>();
  private final ChunkAssembler chunks = new ChunkAssembler();
  private final List<Version> versions = new ArrayList<>();
  private final String onlyModel;

  /** A reader of {@code topic} from the beginning; {@code model} null reads every model. */
  public ModelReader(String bootstrap, String topic, String model, Properties client) {
    Properties p = new Properties();
    p.putAll(client);
    p.put("bootstrap.servers", bootstrap);
    p.put("group.id", "mmoe-model-reader-" + java.util.UUID.randomUUID());
    p.put("auto.offset.reset", "earliest");
    p.put("enable.auto.commit", "false");
    p.put("isolation.level", "read_committed");
    p.put("max.partition.fetch.bytes", String.valueOf(16 * 1024 * 1024));
    consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    consumer.subscribe(List.of(topic));
    onlyModel = model;
  }

  /** Reads what arrived within {@code timeout}; returns the number of versions completed. */
  public int poll(Duration timeout) {
    int done = 0;
    for (ConsumerRecord<byte[], byte[]> r : consumer.poll(timeout)) {
      ModelChunk c = ModelRecords.chunkOf(r);
      if (c == null || (onlyModel != null && !onlyModel.equals(c.model))) {
        continue;
      }
      byte[] snapshot = chunks.add(c);
      if (snapshot != null && models.computeIfAbsent(c.model, k -> new SnapshotState()).apply(snapshot)) {
        versions.add(new Version(c.model, c.version, c.kind, c.chunks, snapshot.length));
        done++;
      }
    }
    return done;
  }

  /**
   * Polls until no version has completed for {@code quiet} (or {@code max} has passed); returns
   * the number of versions completed meanwhile.
   */
  public int pollUntilQuiet(Duration quiet, Duration max) {
    int done = 0;
    long deadline = System.nanoTime() + max.toNanos();
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

  @Override
  public void close() {
    consumer.close();
  }
}
