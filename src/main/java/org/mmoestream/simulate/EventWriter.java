package org.mmoestream.simulate;

import java.nio.charset.StandardCharsets;
import java.util.Comparator;
import java.util.PriorityQueue;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Writes impressions, clicks and conversions to Kafka in event-time order: an impression is sent at
 * once, a click or conversion is scheduled for its event time and sent when the stream reaches it,
 * so the topics look like live traffic. {@link #write} drives it from the {@link Simulator}, with
 * event time following the wall clock at {@code rate} impressions per second (0: as fast as
 * possible, event time then advancing 10 ms per impression); {@code replay} drives it from a file.
 */
public final class EventWriter implements AutoCloseable {
  private final KafkaProducer<byte[], byte[]> producer;
  private final String impressions;
  private final String clicks;
  private final String conversions;

  /** The event topic of a record. */
  public enum Topic {
    IMPRESSIONS,
    CLICKS,
    CONVERSIONS
  }

  private record Pending(long ts, long sequence, Topic topic, String key, String json) {}

  private final PriorityQueue<Pending> later =
      new PriorityQueue<>(Comparator.comparingLong(Pending::ts).thenComparingLong(Pending::sequence));
  private long sequence;
  private long records;

  public EventWriter(String bootstrap, String impressions, String clicks, String conversions, Properties client) {
    Properties p = new Properties();
    p.putAll(client);
    p.put("bootstrap.servers", bootstrap);
    p.put("linger.ms", "5");
    p.put("acks", "all");
    producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    this.impressions = impressions;
    this.clicks = clicks;
    this.conversions = conversions;
  }

  /** Listener of progress (impressions written so far). */
  public interface Progress {
    void written(long impressions, long records);
  }

  /**
   * Writes {@code n} impressions with their clicks and conversions; returns the records written.
   * Click delays are below {@code maxClickDelay}, conversion delays below {@code maxConversionDelay}.
   */
  public long write(Simulator sim, long n, double rate, long maxClickDelay, long maxConversionDelay, Progress progress)
      throws InterruptedException {
    return write(sim, n, rate, maxClickDelay, maxConversionDelay, progress, null);
  }

  /** As above; {@code each} sees every impression (and its hidden probabilities) as it is written. */
  public long write(Simulator sim, long n, double rate, long maxClickDelay, long maxConversionDelay, Progress progress,
      java.util.function.Consumer<Simulator.Impression> each) throws InterruptedException {
    long before = records;
    long start = System.currentTimeMillis();
    for (long i = 0; i < n; i++) {
      long ts = rate > 0 ? start + (long) (i * 1000 / rate) : start - n * 10 + i * 10;
      if (rate > 0) {
        long wait = ts - System.currentTimeMillis();
        if (wait > 0) {
          Thread.sleep(wait);
        }
      }
      Simulator.Impression imp = sim.next(ts, maxClickDelay, maxConversionDelay);
      if (each != null) {
        each.accept(imp);
      }
      send(ts, Topic.IMPRESSIONS, imp.requestId(), Simulator.impressionJson(imp));
      if (imp.clicked()) {
        schedule(ts + imp.clickDelay(), Topic.CLICKS, imp.requestId(), Simulator.clickJson(imp));
      }
      if (imp.converted()) {
        schedule(ts + imp.clickDelay() + imp.conversionDelay(), Topic.CONVERSIONS, imp.requestId(), Simulator.conversionJson(imp));
      }
      if (progress != null && (i + 1) % 10_000 == 0) {
        progress.written(i + 1, records - before);
      }
    }
    finish(rate > 0);
    return records - before;
  }

  /** Sends the record with event time {@code ts} now, after every scheduled record due by then. */
  public void send(long ts, Topic topic, String key, String json) {
    while (!later.isEmpty() && later.peek().ts() <= ts) {
      send(later.poll());
    }
    send(new Pending(ts, sequence++, topic, key, json));
  }

  /** Schedules a record for event time {@code ts}: it is sent in event-time order with the others. */
  public void schedule(long ts, Topic topic, String key, String json) {
    later.add(new Pending(ts, sequence++, topic, key, json));
  }

  /**
   * Sends the scheduled records in event-time order ({@code paced}: each when the wall clock
   * reaches its event time) and flushes the producer.
   */
  public void finish(boolean paced) throws InterruptedException {
    while (!later.isEmpty()) {
      Pending p = later.poll();
      if (paced) {
        long wait = p.ts() - System.currentTimeMillis();
        if (wait > 0) {
          Thread.sleep(wait);
        }
      }
      send(p);
    }
    producer.flush();
  }

  /** Records sent so far. */
  public long records() {
    return records;
  }

  private void send(Pending p) {
    String topic = switch (p.topic()) {
      case IMPRESSIONS -> impressions;
      case CLICKS -> clicks;
      case CONVERSIONS -> conversions;
    };
    producer.send(new ProducerRecord<>(topic, p.key().getBytes(StandardCharsets.UTF_8), p.json().getBytes(StandardCharsets.UTF_8)));
    records++;
  }

  @Override
  public void close() {
    producer.close();
  }
}
