package org.mmoestream.testing;

import java.io.IOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.mmoestream.event.ParsedRecord;

/**
 * Fails the source task once, at the {@code failAt}-th record, so the job restarts from its last
 * checkpoint (wrap a {@link Paced} deserializer so that checkpoints complete first). Flink copies the
 * deserializer, so the count and the flag live in a static map under {@code name}.
 */
public final class FailOnce implements KafkaRecordDeserializationSchema<ParsedRecord> {
    private static final Map<String, AtomicInteger> SEEN = new ConcurrentHashMap<>();
    private static final Map<String, Boolean> FAILED = new ConcurrentHashMap<>();

    private final String name;
    private final KafkaRecordDeserializationSchema<ParsedRecord> inner;
    private final int failAt;

    public FailOnce(String name, KafkaRecordDeserializationSchema<ParsedRecord> inner, int failAt) {
        this.name = name;
        this.inner = inner;
        this.failAt = failAt;
    }

    /** Whether the failure named {@code name} happened. */
    public static boolean failed(String name) {
        return FAILED.getOrDefault(name, false);
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<ParsedRecord> out) throws IOException {
        if (SEEN.computeIfAbsent(name, k -> new AtomicInteger()).incrementAndGet() == failAt
                && FAILED.putIfAbsent(name, true) == null) {
            throw new IOException("forced failure in the middle of the stream");
        }
        inner.deserialize(record, out);
    }

    @Override
    public TypeInformation<ParsedRecord> getProducedType() {
        return inner.getProducedType();
    }
}
