package org.mmoestream.train;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.mmoestream.model.codec.SyncSnapshots;
import org.mmoestream.publish.ChunkAssembler;
import org.mmoestream.publish.ModelChunk;
import org.mmoestream.publish.ModelRecords;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A thread that reads one model's synchronization versions from the sync topic and queues each
 * complete one for the replica's task thread, which applies them at its synchronization points.
 * It reads uncommitted records: a replica only needs some recent state of the model to train on
 * (its deltas are differences, right whatever the base), and waiting for the reducer's
 * checkpoints would make replicas drift apart for a checkpoint interval. At start it skips to the
 * last full version on the topic.
 */
final class SyncFollower implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(SyncFollower.class);

  private final KafkaConsumer<byte[], byte[]> consumer;
  private final String topic;
  private final String model;
  private final ConcurrentLinkedQueue<byte[]> ready = new ConcurrentLinkedQueue<>();
  private final Thread thread;
  private volatile boolean stop;

  SyncFollower(String bootstrap, String topic, String model, Properties client) {
    Properties p = new Properties();
    p.putAll(client);
    p.put("bootstrap.servers", bootstrap);
    p.put("enable.auto.commit", "false");
    p.put("isolation.level", "read_uncommitted");
    p.put("max.partition.fetch.bytes", String.valueOf(64 * 1024 * 1024));
    p.put("fetch.max.bytes", String.valueOf(128 * 1024 * 1024));
    p.put("fetch.max.wait.ms", "50");
    this.consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    this.topic = topic;
    this.model = model;
    thread = new Thread(this::run, "mmoe-sync-follower-" + model);
    thread.setDaemon(true);
    thread.start();
  }

  /** The complete versions read since the last call, oldest first. */
  List<byte[]> drain() {
    List<byte[]> out = new ArrayList<>();
    for (byte[] b; (b = ready.poll()) != null; ) {
      out.add(b);
    }
    return out;
  }

  private void run() {
    try {
      List<TopicPartition> parts = List.of();
      while (!stop && parts.isEmpty()) {
        List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(10));
        parts = infos == null ? List.of() : infos.stream().map(i -> new TopicPartition(topic, i.partition())).toList();
        if (parts.isEmpty()) {
          Thread.sleep(200);
        }
      }
      consumer.assign(parts);
      consumer.seekToBeginning(parts);
      Map<TopicPartition, Long> end = consumer.endOffsets(parts);
      ChunkAssembler chunks = new ChunkAssembler();
      // Catch-up: keep the last full version and the deltas after it.
      List<byte[]> backlog = new ArrayList<>();
      boolean caughtUp = false;
      while (!stop) {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
          ModelChunk c = ModelRecords.chunkOf(r);
          byte[] bytes = c == null || !model.equals(c.model) ? null : chunks.add(c);
          if (bytes == null) {
            continue;
          }
          if (caughtUp) {
            ready.add(bytes);
          } else {
            if (SyncSnapshots.header(bytes).full()) {
              backlog.clear();
            }
            backlog.add(bytes);
          }
        }
        if (!caughtUp && reached(end)) {
          caughtUp = true;
          ready.addAll(backlog);
          backlog = null;
        }
      }
    } catch (WakeupException e) {
      // closing
    } catch (Exception e) {
      if (!stop) {
        LOG.warn("the sync follower of model '{}' stopped: {}", model, e.toString());
      }
    } finally {
      consumer.close();
    }
  }

  private boolean reached(Map<TopicPartition, Long> end) {
    for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
      if (consumer.position(e.getKey()) < e.getValue()) {
        return false;
      }
    }
    return true;
  }

  @Override
  public void close() throws InterruptedException {
    stop = true;
    consumer.wakeup();
    thread.join(10_000);
  }
}
