package org.mmoestream.event.serde;

import java.nio.charset.StandardCharsets;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.mmoestream.event.DeadLetter;
import org.mmoestream.event.LabeledExample;

/** Flink serialization schemas of the records the jobs write (classes, so Flink sees their types). */
public final class RecordSerializers {
    private RecordSerializers() {}

    /**
     * Examples-topic records: key = request id (a request's records share a partition), value = the
     * JSON of {@link JsonRecords#example}, record timestamp = the producer's clock. Not the element's
     * event time: an example made final by the end of a bounded replay carries the deadline of its
     * window (up to a day ahead), which a broker rejects as too far in the future.
     */
    public static final class Examples
            implements org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema<LabeledExample> {
        private static final long serialVersionUID = 1L;
        private final String topic;

        public Examples(String topic) {
            this.topic = topic;
        }

        @Override
        public org.apache.kafka.clients.producer.ProducerRecord<byte[], byte[]> serialize(
                LabeledExample e, KafkaSinkContext ctx, Long timestamp) {
            return new org.apache.kafka.clients.producer.ProducerRecord<>(
                    topic, null, null, e.requestId.getBytes(StandardCharsets.UTF_8), JsonRecords.example(e));
        }
    }

    /** Dead-letter value: the JSON of {@link JsonRecords#deadLetter}. */
    public static final class DeadLetterValue implements SerializationSchema<DeadLetter> {
        private static final long serialVersionUID = 1L;

        @Override
        public byte[] serialize(DeadLetter d) {
            return JsonRecords.deadLetter(d);
        }
    }

    /**
     * Score value: {@code {"request_id", "model", "model_version", <head>: score ..., "scored_at",
     * "stale"}}, one number per head of the model's spec, by name.
     */
    public static final class ScoreValue implements SerializationSchema<org.mmoestream.event.ScoreRecord> {
        private static final long serialVersionUID = 1L;
        private static final com.fasterxml.jackson.core.JsonFactory JSON = new com.fasterxml.jackson.core.JsonFactory();
        private transient java.io.ByteArrayOutputStream buf;

        @Override
        public byte[] serialize(org.mmoestream.event.ScoreRecord s) {
            if (buf == null) {
                buf = new java.io.ByteArrayOutputStream(256);
            }
            buf.reset();
            try (com.fasterxml.jackson.core.JsonGenerator g = JSON.createGenerator(buf)) {
                g.writeStartObject();
                g.writeStringField("request_id", s.requestId);
                g.writeStringField("model", s.model);
                g.writeNumberField("model_version", s.modelVersion);
                for (int h = 0; h < s.heads.length; h++) {
                    if (Double.isFinite(s.values[h])) {
                        g.writeNumberField(s.heads[h], s.values[h]);
                    } else {
                        g.writeNullField(s.heads[h]);
                    }
                }
                g.writeNumberField("scored_at", s.scoredAt);
                g.writeBooleanField("stale", s.stale);
                g.writeEndObject();
            } catch (java.io.IOException e) {
                throw new IllegalStateException("cannot write the score of " + s.requestId, e);
            }
            return buf.toByteArray();
        }
    }

    /** Score key: the request id. */
    public static final class ScoreKey implements SerializationSchema<org.mmoestream.event.ScoreRecord> {
        private static final long serialVersionUID = 1L;

        @Override
        public byte[] serialize(org.mmoestream.event.ScoreRecord s) {
            return s.requestId.getBytes(StandardCharsets.UTF_8);
        }
    }
}
