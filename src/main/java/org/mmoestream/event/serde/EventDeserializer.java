package org.mmoestream.event.serde;

import java.util.Map;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.mmoestream.event.DeadLetter;
import org.mmoestream.event.ParsedRecord;

/**
 * Kafka source deserializer for the three event topics: the topic decides the event type; a record
 * that fails {@link EventParser} becomes a {@link DeadLetter} instead of failing the job.
 */
public final class EventDeserializer implements KafkaRecordDeserializationSchema<ParsedRecord> {
    private static final long serialVersionUID = 1L;

    private final Map<String, Byte> typeOfTopic;
    private final int maxBytes;
    private final long maxFutureMillis;
    private transient EventParser parser;

    public EventDeserializer(Map<String, Byte> typeOfTopic, int maxBytes, long maxFutureMillis) {
        this.typeOfTopic = Map.copyOf(typeOfTopic);
        this.maxBytes = maxBytes;
        this.maxFutureMillis = maxFutureMillis;
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<ParsedRecord> out) {
        if (parser == null) {
            parser = new EventParser(maxBytes, maxFutureMillis);
        }
        Byte type = typeOfTopic.get(record.topic());
        try {
            if (type == null) {
                throw new EventParser.Invalid(
                        DeadLetter.UNEXPECTED_TOPIC, "record from unexpected topic " + record.topic());
            }
            out.collect(ParsedRecord.ok(parser.parse(type, record.value(), System.currentTimeMillis())));
        } catch (EventParser.Invalid e) {
            out.collect(ParsedRecord.bad(new DeadLetter(
                    record.topic(), record.partition(), record.offset(), e.kind(), e.getMessage(), record.value())));
        }
    }

    @Override
    public TypeInformation<ParsedRecord> getProducedType() {
        return TypeInformation.of(ParsedRecord.class);
    }
}
