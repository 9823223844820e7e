package org.mmoestream.score;

import java.nio.charset.StandardCharsets;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.mmoestream.publish.ModelChunk;
import org.mmoestream.publish.ModelRecords;

/** Model-topic records back into {@link ModelChunk}s; records without the headers are skipped. */
public final class ModelChunkDeserializer implements KafkaRecordDeserializationSchema<ModelChunk> {
  private static final long serialVersionUID = 1L;

  @Override
  public void deserialize(ConsumerRecord<byte[], byte[]> r, Collector<ModelChunk> out) {
    String model = header(r, ModelRecords.MODEL);
    String version = header(r, ModelRecords.VERSION);
    String chunk = header(r, ModelRecords.CHUNK);
    if (model == null || version == null || chunk == null) {
      return;
    }
    ModelChunk c = new ModelChunk();
    c.model = model;
    c.version = Long.parseLong(version);
    c.kind = header(r, ModelRecords.KIND);
    String[] ij = chunk.split("/");
    c.chunk = Integer.parseInt(ij[0]);
    c.chunks = Integer.parseInt(ij[1]);
    c.bytes = r.value();
    out.collect(c);
  }

  private static String header(ConsumerRecord<byte[], byte[]> r, String key) {
    Header h = r.headers().lastHeader(key);
    return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  @Override
  public TypeInformation<ModelChunk> getProducedType() {
    return TypeInformation.of(ModelChunk.class);
  }
}
