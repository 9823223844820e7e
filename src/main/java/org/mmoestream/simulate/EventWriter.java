package org.mmoestream.simulate;

import java.nio.charset.StandardCharsets;
import java.util.Comparator;
import java.util.PriorityQueue;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.mmoestream.config.KafkaClients;

/**
 * Writes impressions, clicks and conversions to Kafka in event-time order: an impression is sent at
 * once, a click or conversion is scheduled for its event time and sent when the stream reaches it,
 * so the topics look like live traffic. {@link #write} drives it from the {@link Simulator}, with
 * event time following the wall clock at {@code rate} impressions per second (0: as fast as
 * possible, event time then advancing 10 ms per impression); {@code replay} drives it from a file.
 * {@link #withNoise} adds duplicates, malformed records and bounded disorder.
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

    /**
     * Faults real streams have, injected by the writer with its own random numbers (the events and
     * their labels stay those of the source): each record is sent twice with probability {@code
     * duplicates}; after each record, with probability {@code malformed}, one extra malformed record
     * (not JSON, a missing field, a wrong type, a non-finite number...) goes to a random event topic; each
     * record is sent up to {@code disorderMillis} of event time later than its timestamp, so records
     * arrive out of order within that bound.
     */
    public record Noise(double duplicates, double malformed, long disorderMillis, long seed) {
        public static final Noise NONE = new Noise(0, 0, 0, 0);

        public Noise {
            if (!(duplicates >= 0 && duplicates <= 1) || !(malformed >= 0 && malformed <= 1) || disorderMillis < 0) {
                throw new IllegalArgumentException("duplicate and malformed rates must be in [0, 1], disorder >= 0");
            }
        }
    }

    private record Pending(long ts, long sequence, Topic topic, String key, String json) {}

    /** The malformed records {@link Noise} injects, one of each kind. */
    public static final java.util.List<String> MALFORMED = java.util.List.of(
            "not json at all",
            "{\"request_id\":\"truncated",
            "{\"ts\":1700000000000}",
            "{\"request_id\":\"bad-ts\",\"ts\":\"yesterday\"}",
            "{\"request_id\":\"negative-ts\",\"ts\":-5}",
            "{\"request_id\":\"huge\",\"ts\":1e400}",
            "{\"request_id\":17,\"ts\":1700000000000}",
            "[]");

    private Noise noise = Noise.NONE;
    private java.util.SplittableRandom noiseRandom = new java.util.SplittableRandom(0);
    private long duplicated;
    private long malformed;

    private final PriorityQueue<Pending> later =
            new PriorityQueue<>(Comparator.comparingLong(Pending::ts).thenComparingLong(Pending::sequence));
    private long sequence;
    private long records;

    public EventWriter(String bootstrap, String impressions, String clicks, String conversions, Properties client) {
        Properties p = new Properties();
        p.putAll(KafkaClients.producer(bootstrap, client));
        p.put("linger.ms", "5");
        producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
        this.impressions = impressions;
        this.clicks = clicks;
        this.conversions = conversions;
    }

    /** Injects {@code noise} into everything written from now on. */
    public EventWriter withNoise(Noise noise) {
        this.noise = noise;
        this.noiseRandom = new java.util.SplittableRandom(noise.seed());
        return this;
    }

    /** Records sent a second time so far. */
    public long duplicated() {
        return duplicated;
    }

    /** Malformed records sent so far. */
    public long malformed() {
        return malformed;
    }

    /** Listener of progress (impressions written so far). */
    public interface Progress {
        void written(long impressions, long records);
    }

    /**
     * Writes {@code n} impressions with their clicks and conversions; returns the records written.
     * Click delays are below {@code maxClickDelay}, conversion delays below {@code maxConversionDelay}.
     */
    public long write(
            Simulator sim, long n, double rate, long maxClickDelay, long maxConversionDelay, Progress progress)
            throws InterruptedException {
        return write(sim, n, rate, maxClickDelay, maxConversionDelay, progress, null);
    }

    /** As above; {@code each} sees every impression (and its hidden probabilities) as it is written. */
    public long write(
            Simulator sim,
            long n,
            double rate,
            long maxClickDelay,
            long maxConversionDelay,
            Progress progress,
            java.util.function.Consumer<Simulator.Impression> each)
            throws InterruptedException {
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
                schedule(
                        ts + imp.clickDelay() + imp.conversionDelay(),
                        Topic.CONVERSIONS,
                        imp.requestId(),
                        Simulator.conversionJson(imp));
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
        if (noise.disorderMillis() > 0) {
            schedule(ts, topic, key, json);
        } else {
            send(new Pending(ts, sequence++, topic, key, json));
        }
    }

    /** Schedules a record for event time {@code ts}: it is sent in event-time order with the others. */
    public void schedule(long ts, Topic topic, String key, String json) {
        long sendAt = noise.disorderMillis() > 0 ? ts + noiseRandom.nextLong(noise.disorderMillis() + 1) : ts;
        later.add(new Pending(sendAt, sequence++, topic, key, json));
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
        produce(p.topic(), p.key(), p.json());
        if (noise.duplicates() > 0 && noiseRandom.nextDouble() < noise.duplicates()) {
            produce(p.topic(), p.key(), p.json());
            duplicated++;
        }
        if (noise.malformed() > 0 && noiseRandom.nextDouble() < noise.malformed()) {
            Topic t = Topic.values()[noiseRandom.nextInt(3)];
            produce(t, "malformed", MALFORMED.get(noiseRandom.nextInt(MALFORMED.size())));
            malformed++;
        }
    }

    private void produce(Topic t, String key, String json) {
        String topic = switch (t) {
            case IMPRESSIONS -> impressions;
            case CLICKS -> clicks;
            case CONVERSIONS -> conversions;
        };
        producer.send(new ProducerRecord<>(
                topic, key.getBytes(StandardCharsets.UTF_8), json.getBytes(StandardCharsets.UTF_8)));
        records++;
    }

    @Override
    public void close() {
        producer.close();
    }
}
