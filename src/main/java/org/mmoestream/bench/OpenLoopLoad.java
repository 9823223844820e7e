package org.mmoestream.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;

/**
 * An open-loop load on the scoring job: requests produced at a fixed rate whatever the job does
 * (request i is due at start + i / rate), and each request's latency taken from its due time, not
 * from when it was actually sent, so a stalled producer or job shows up in the figures instead of
 * slowing the load down (no coordinated omission). Every request is accounted for: answered (a
 * score read from the scores topic, read_committed), dead-lettered, or missing after a drain of 10
 * s; a missing request counts in the latency percentiles with the time it has waited by then.
 * Request ids are {@code <run>-<i>}; the scores' keys are read, not their JSON.
 */
final class OpenLoopLoad implements AutoCloseable {
    /** Figures of one run. */
    record Result(long sent, long answered, long deadLettered, long missing, long p50, long p99, long max) {}

    private static final long DRAIN_NANOS = 10_000_000_000L;

    /** The current run: due times (nanoTime) and which requests were answered or dead-lettered. */
    private static final class Run {
        final int id;
        final long[] due;
        final AtomicLongArray done;
        final Histogram latencyMicros = new Histogram(3_600_000_000L, 3);
        final AtomicLong answered = new AtomicLong();
        final AtomicLong dead = new AtomicLong();

        Run(int id, int n) {
            this.id = id;
            this.due = new long[n];
            this.done = new AtomicLongArray((n + 63) / 64);
        }

        /** Marks request i done; true the first time. */
        boolean mark(int i) {
            long bit = 1L << (i & 63);
            while (true) {
                long w = done.get(i >>> 6);
                if ((w & bit) != 0) {
                    return false;
                }
                if (done.compareAndSet(i >>> 6, w, w | bit)) {
                    return true;
                }
            }
        }
    }

    private final KafkaProducer<byte[], byte[]> producer;
    private final String requestTopic;
    private final List<String> features;
    private final AtomicBoolean stop = new AtomicBoolean();
    private final Thread scores;
    private final Thread deadLetters;
    private volatile Run current;
    private int runs;

    OpenLoopLoad(String bootstrap, JobConfig cfg, List<String> features) {
        this.requestTopic = cfg.string(Key.TOPIC_SCORE_REQUESTS);
        this.features = features;
        producer = new KafkaProducer<>(
                Map.of("bootstrap.servers", bootstrap, "linger.ms", "0", "acks", "1"),
                new ByteArraySerializer(),
                new ByteArraySerializer());
        scores = follow(bootstrap, cfg.string(Key.TOPIC_SCORES), false);
        deadLetters = follow(bootstrap, cfg.string(Key.TOPIC_DEAD_LETTER), true);
    }

    private Thread follow(String bootstrap, String topic, boolean deadLetter) {
        Thread t = new Thread(() -> consume(bootstrap, topic, deadLetter), "load-" + topic);
        t.setDaemon(true);
        t.start();
        return t;
    }

    private void consume(String bootstrap, String topic, boolean deadLetter) {
        ObjectMapper json = new ObjectMapper();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(
                Map.of(
                        "bootstrap.servers",
                        bootstrap,
                        "isolation.level",
                        "read_committed",
                        "enable.auto.commit",
                        "false"),
                new ByteArrayDeserializer(),
                new ByteArrayDeserializer())) {
            List<PartitionInfo> infos = c.partitionsFor(topic);
            List<TopicPartition> parts = infos.stream()
                    .map(i -> new TopicPartition(topic, i.partition()))
                    .toList();
            c.assign(parts);
            c.seekToEnd(parts);
            while (!stop.get()) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(20))) {
                    long now = System.nanoTime();
                    String id;
                    if (deadLetter) {
                        JsonNode raw = json.readTree(
                                json.readTree(r.value()).get("raw").asText());
                        id = raw.get("request_id").asText();
                    } else {
                        id = new String(r.key(), StandardCharsets.UTF_8);
                    }
                    record(id, now, deadLetter);
                }
            }
        } catch (Exception e) {
            if (!stop.get()) {
                throw new IllegalStateException("reading " + topic + " failed", e);
            }
        }
    }

    private void record(String id, long now, boolean deadLetter) {
        Run run = current;
        int dash = id.indexOf('-');
        if (run == null || dash < 0 || Integer.parseInt(id.substring(0, dash)) != run.id) {
            return;
        }
        int i = Integer.parseInt(id.substring(dash + 1));
        if (!run.mark(i)) {
            return;
        }
        if (deadLetter) {
            run.dead.incrementAndGet();
            return;
        }
        synchronized (run.latencyMicros) {
            run.latencyMicros.recordValue(Math.max(0, (now - run.due[i]) / 1000));
        }
        run.answered.incrementAndGet();
    }

    /** Sends one request every 100 ms until a score comes back; returns the time that took (ms). */
    long awaitFirstScore(long timeoutMillis) throws InterruptedException {
        long t0 = System.nanoTime();
        Run run = new Run(++runs, 100_000);
        current = run;
        for (int i = 0; run.answered.get() == 0; i++) {
            if (System.nanoTime() - t0 > timeoutMillis * 1_000_000) {
                throw new IllegalStateException("no score within " + timeoutMillis + " ms");
            }
            run.due[i] = System.nanoTime();
            send(run, i);
            producer.flush();
            Thread.sleep(100);
        }
        return (System.nanoTime() - t0) / 1_000_000;
    }

    /** Produces {@code rate} requests per second for {@code seconds}, drains, and returns the figures. */
    Result run(int rate, double seconds) throws InterruptedException {
        int n = (int) Math.round(rate * seconds);
        Run run = new Run(++runs, n);
        current = run;
        long start = System.nanoTime() + 20_000_000L;
        for (int i = 0; i < n; i++) {
            long due = start + (long) (i * 1e9 / rate);
            run.due[i] = due;
            long wait;
            while ((wait = due - System.nanoTime()) > 0) {
                if (wait > 200_000) {
                    LockSupport.parkNanos(wait - 100_000);
                } else {
                    Thread.onSpinWait();
                }
            }
            send(run, i);
        }
        producer.flush();
        long deadline = System.nanoTime() + DRAIN_NANOS;
        while (run.answered.get() + run.dead.get() < n && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        current = null;
        long now = System.nanoTime();
        long missing = 0;
        synchronized (run.latencyMicros) {
            for (int i = 0; i < n; i++) {
                if ((run.done.get(i >>> 6) & (1L << (i & 63))) == 0) {
                    missing++;
                    run.latencyMicros.recordValue((now - run.due[i]) / 1000);
                }
            }
            Histogram h = run.latencyMicros;
            return new Result(
                    n,
                    run.answered.get(),
                    run.dead.get(),
                    missing,
                    h.getValueAtPercentile(50) / 1000,
                    h.getValueAtPercentile(99) / 1000,
                    h.getMaxValue() / 1000);
        }
    }

    private void send(Run run, int i) {
        String id = run.id + "-" + i;
        String json = "{\"request_id\":\"" + id + "\",\"ts\":" + System.currentTimeMillis()
                + ",\"model\":\"m1\",\"features\":" + features.get(i & (features.size() - 1)) + "}";
        producer.send(new ProducerRecord<>(
                requestTopic, id.getBytes(StandardCharsets.UTF_8), json.getBytes(StandardCharsets.UTF_8)));
    }

    @Override
    public void close() throws InterruptedException {
        stop.set(true);
        producer.close();
        scores.join(5_000);
        deadLetters.join(5_000);
    }
}
