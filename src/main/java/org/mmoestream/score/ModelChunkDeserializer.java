package org.mmoestream.score;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.mmoestream.publish.ModelChunk;
import org.mmoestream.publish.ModelRecords;

/** Model-topic records back into {@link ModelChunk}s; records without the headers are skipped. */
public final class ModelChunkDeserializer implements KafkaRecordDeserializationSchema<ModelChunk> {
  private static final long serialVersionUID = 1L;

  @Override
  public void deserialize(ConsumerRecord<byte[], byte[]> r, Collector<ModelChunk> out) {
    ModelChunk c = ModelRecords.chunkOf(r);
    if (c != null) {
      out.collect(c);
    }
  }

  @Override
  public TypeInformation<ModelChunk> getProducedType() {
    return TypeInformation.of(ModelChunk.class);
  }
}
