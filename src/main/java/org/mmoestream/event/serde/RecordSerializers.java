package org.mmoestream.event.serde;

import java.nio.charset.StandardCharsets;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.mmoestream.event.DeadLetter;
import org.mmoestream.event.LabeledExample;

/** Flink serialization schemas of the records the jobs write (classes, so Flink sees their types). */
public final class RecordSerializers {
  private RecordSerializers() {}

  /** Example value: the JSON of {@link JsonRecords#example}. */
  public static final class ExampleValue implements SerializationSchema<LabeledExample> {
    private static final long serialVersionUID = 1L;

    @Override
    public byte[] serialize(LabeledExample e) {
      return JsonRecords.example(e);
    }
  }

  /** Example key: the request id, so a request's records share a partition. */
  public static final class ExampleKey implements SerializationSchema<LabeledExample> {
    private static final long serialVersionUID = 1L;

    @Override
    public byte[] serialize(LabeledExample e) {
      return e.requestId.getBytes(StandardCharsets.UTF_8);
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
}
