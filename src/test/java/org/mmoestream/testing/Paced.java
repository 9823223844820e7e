package org.mmoestream.testing;

import java.io.IOException;
import java.util.concurrent.locks.LockSupport;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.mmoestream.event.ParsedRecord;
import org.mmoestream.event.serde.EventDeserializer;

/**
 * The event deserializer, slowed down by {@code parkNanos} per record, so that a bounded job over
 * a backlog runs long enough for checkpoints to complete and for something to disturb it midway.
 */
public final class Paced implements KafkaRecordDeserializationSchema<ParsedRecord> {
    private final EventDeserializer inner;
    private final long parkNanos;

    public Paced(EventDeserializer inner, long parkNanos) {
        this.inner = inner;
        this.parkNanos = parkNanos;
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<ParsedRecord> out) throws IOException {
        LockSupport.parkNanos(parkNanos);
        inner.deserialize(record, out);
    }

    @Override
    public TypeInformation<ParsedRecord> getProducedType() {
        return inner.getProducedType();
    }
}
