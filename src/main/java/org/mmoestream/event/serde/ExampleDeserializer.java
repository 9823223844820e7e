package org.mmoestream.event.serde;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.mmoestream.event.LabeledExample;

/**
 * Records of the examples topic ({@link JsonRecords#example}) back into labeled examples, to train
 * from that topic (the trainer benchmark does). A record that is not an example fails the job:
 * the topic is written by the pipeline job alone.
 */
public final class ExampleDeserializer implements KafkaRecordDeserializationSchema<LabeledExample> {
  private static final long serialVersionUID = 1L;

  @Override
  public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<LabeledExample> out) {
    out.collect(JsonRecords.readExample(record.value()));
  }

  @Override
  public TypeInformation<LabeledExample> getProducedType() {
    return TypeInformation.of(LabeledExample.class);
  }
}
