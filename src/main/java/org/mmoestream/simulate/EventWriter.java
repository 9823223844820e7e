package org.mmoestream.simulate;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.PriorityQueue;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Writes simulated impressions, clicks and conversions to Kafka in event-time order, with event
 * time following the wall clock: {@code rate} impressions per second (0: as fast as possible,
 * event time then advancing 10 ms per impression). Clicks and conversions are sent when their
 * event time comes, so the stream looks like live traffic.
 */
public final class EventWriter implements AutoCloseable {
  private final KafkaProducer<byte[], byte[]> producer;
  private final String impressions;
  private final String clicks;
  private final String conversions;

  private record Pending(long ts, String topic, String key, String json) {}

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
    PriorityQueue<Pending> later = new PriorityQueue<>(Comparator.comparingLong(Pending::ts));
    long start = System.currentTimeMillis();
    long records = 0;
    for (long i = 0; i < n; i++) {
      long ts = rate > 0 ? start + (long) (i * 1000 / rate) : start - n * 10 + i * 10;
      if (rate > 0) {
        long wait = ts - System.currentTimeMillis();
        if (wait > 0) {
          Thread.sleep(wait);
        }
      }
      while (!later.isEmpty() && later.peek().ts() <= ts) {
        records += send(later.poll());
      }
      Simulator.Impression imp = sim.next(ts, maxClickDelay, maxConversionDelay);
      if (each != null) {
        each.accept(imp);
      }
      records += send(new Pending(ts, impressions, imp.requestId(), Simulator.impressionJson(imp)));
      if (imp.clicked()) {
        later.add(new Pending(ts + imp.clickDelay(), clicks, imp.requestId(), Simulator.clickJson(imp)));
      }
      if (imp.converted()) {
        later.add(new Pending(ts + imp.clickDelay() + imp.conversionDelay(), conversions, imp.requestId(), Simulator.conversionJson(imp)));
      }
      if (progress != null && (i + 1) % 10_000 == 0) {
        progress.written(i + 1, records);
      }
    }
    List<Pending> rest = new ArrayList<>(later);
    rest.sort(Comparator.comparingLong(Pending::ts));
    for (Pending p : rest) {
      if (rate > 0) {
        long wait = p.ts() - System.currentTimeMillis();
        if (wait > 0) {
          Thread.sleep(wait);
        }
      }
      records += send(p);
    }
    producer.flush();
    return records;
  }

  private int send(Pending p) {
    producer.send(new ProducerRecord<>(p.topic(), p.key().getBytes(StandardCharsets.UTF_8), p.json().getBytes(StandardCharsets.UTF_8)));
    return 1;
  }

  @Override
  public void close() {
    producer.close();
  }
}
