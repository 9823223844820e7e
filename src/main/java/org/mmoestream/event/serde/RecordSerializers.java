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
    public org.apache.kafka.clients.producer.ProducerRecord<byte[], byte[]> serialize(LabeledExample e,
        KafkaSinkContext ctx, Long timestamp) {
      return new org.apache.kafka.clients.producer.ProducerRecord<>(topic, null, null,
          e.requestId.getBytes(StandardCharsets.UTF_8), JsonRecords.example(e));
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

  /** Score value: {@code {"request_id", "model", "model_version", "ctr", "cvr", "ctcvr", "scored_at", "stale"}}. */
  public static final class ScoreValue implements SerializationSchema<org.mmoestream.score.ScoreRecord> {
    private static final long serialVersionUID = 1L;
    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

    @Override
    public byte[] serialize(org.mmoestream.score.ScoreRecord s) {
      var n = JSON.createObjectNode();
      n.put("request_id", s.requestId);
      n.put("model", s.model);
      n.put("model_version", s.modelVersion);
      putScore(n, "ctr", s.ctr);
      putScore(n, "cvr", s.cvr);
      putScore(n, "ctcvr", s.ctcvr);
      n.put("scored_at", s.scoredAt);
      n.put("stale", s.stale);
      return n.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static void putScore(com.fasterxml.jackson.databind.node.ObjectNode n, String k, double v) {
      if (Double.isNaN(v)) {
        n.putNull(k);
      } else {
        n.put(k, v);
      }
    }
  }

  /** Score key: the request id. */
  public static final class ScoreKey implements SerializationSchema<org.mmoestream.score.ScoreRecord> {
    private static final long serialVersionUID = 1L;

    @Override
    public byte[] serialize(org.mmoestream.score.ScoreRecord s) {
      return s.requestId.getBytes(StandardCharsets.UTF_8);
    }
  }
}
