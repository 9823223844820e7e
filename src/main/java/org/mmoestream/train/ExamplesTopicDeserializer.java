package org.mmoestream.train;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.mmoestream.event.serde.JsonRecords;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.codec.SpecJson;

/**
 * Records of the examples topic into encoded examples for the trainer, as the pipeline encodes what
 * its join sends ({@link EncodeExamples#encode}: an early feedback mode's emission trains only the
 * tasks it brings news of), to train from that topic (the trainer benchmark does). A record that is
 * not an example of the spec fails the job: the topic is written by the pipeline job alone.
 */
public final class ExamplesTopicDeserializer implements KafkaRecordDeserializationSchema<TrainExample> {
    private static final long serialVersionUID = 1L;

    private final String specJson;
    private transient ExampleEncoder encoder;

    public ExamplesTopicDeserializer(String specJson) {
        this.specJson = specJson;
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<TrainExample> out)
            throws java.io.IOException {
        if (encoder == null) {
            encoder = new ExampleEncoder(SpecJson.read(specJson));
        }
        // Read and encoded as the pipeline's trainer gets its examples: an early feedback mode's
        // emission trains the tasks it brings news of, and its kind travels on.
        out.collect(EncodeExamples.encode(encoder, JsonRecords.readExample(record.value())));
    }

    @Override
    public TypeInformation<TrainExample> getProducedType() {
        return TypeInformation.of(TrainExample.class);
    }
}
