package org.mmoestream.publish;

import java.nio.charset.StandardCharsets;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * Model-topic records (DESIGN.md): key = model id, value = the chunk's bytes, headers {@code
 * mmoe.format} ({@code safetensors}), {@code mmoe.model}, {@code mmoe.version}, {@code mmoe.kind}
 * and {@code mmoe.chunk} ({@code i/n}, 0-based).
 */
public final class ModelRecords implements KafkaRecordSerializationSchema<ModelChunk> {
  private static final long serialVersionUID = 1L;
  public static final String FORMAT = "mmoe.format";
  public static final String MODEL = "mmoe.model";
  public static final String VERSION = "mmoe.version";
  public static final String KIND = "mmoe.kind";
  public static final String CHUNK = "mmoe.chunk";

  private final String topic;

  public ModelRecords(String topic) {
    this.topic = topic;
  }

  @Override
  public ProducerRecord<byte[], byte[]> serialize(ModelChunk c, KafkaSinkContext ctx, Long timestamp) {
    RecordHeaders h = new RecordHeaders();
    h.add(FORMAT, bytes("safetensors"));
    h.add(MODEL, bytes(c.model));
    h.add(VERSION, bytes(Long.toString(c.version)));
    h.add(KIND, bytes(c.kind));
    h.add(CHUNK, bytes(c.chunk + "/" + c.chunks));
    return new ProducerRecord<>(topic, null, null, bytes(c.model), c.bytes, h);
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
