package org.mmoestream.publish;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.header.Header;
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
  private final Map<String, Pending> pending = new LinkedHashMap<>();
  private final List<Version> versions = new ArrayList<>();
  private final String onlyModel;

  private static final class Pending {
    long version;
    int next;
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
  }

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
      String model = header(r, ModelRecords.MODEL);
      if (model == null || (onlyModel != null && !onlyModel.equals(model))) {
        continue;
      }
      long version = Long.parseLong(header(r, ModelRecords.VERSION));
      String[] chunk = header(r, ModelRecords.CHUNK).split("/");
      int i = Integer.parseInt(chunk[0]);
      int n = Integer.parseInt(chunk[1]);
      Pending p = pending.computeIfAbsent(model, k -> new Pending());
      if (i == 0) {
        p.version = version;
        p.next = 0;
        p.bytes.reset();
      }
      if (p.version != version || p.next != i) {
        continue; // a chunk without its predecessors: wait for the next version
      }
      p.bytes.writeBytes(r.value());
      p.next++;
      if (p.next == n) {
        byte[] snapshot = p.bytes.toByteArray();
        SnapshotState s = models.computeIfAbsent(model, k -> new SnapshotState());
        if (s.apply(snapshot)) {
          versions.add(new Version(model, version, header(r, ModelRecords.KIND), n, snapshot.length));
          done++;
        }
        p.next = 0;
        p.bytes.reset();
      }
    }
    return done;
  }

  private static String header(ConsumerRecord<byte[], byte[]> r, String key) {
    Header h = r.headers().lastHeader(key);
    return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
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
