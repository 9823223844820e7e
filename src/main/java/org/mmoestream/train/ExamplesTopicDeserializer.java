package org.mmoestream.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.codec.SpecJson;

/**
 * Records of the examples topic straight into encoded examples for the trainer, parsing each
 * record's JSON once: to train from that topic (the trainer benchmark does). A record that is not
 * an example of the spec fails the job: the topic is written by the pipeline job alone.
 */
public final class ExamplesTopicDeserializer implements KafkaRecordDeserializationSchema<TrainExample> {
    private static final long serialVersionUID = 1L;
    private static final ObjectMapper JSON = new ObjectMapper();

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
        JsonNode n = JSON.readTree(record.value());
        float[] labels = encoder.labels(
                n.get("click").asInt(),
                n.get("conversion").asInt(),
                n.hasNonNull("conversion_value") ? n.get("conversion_value").asDouble() : Double.NaN);
        out.collect(TrainExample.of(
                n.get("request_id").asText(),
                n.get("model").asText(),
                n.get("impression_ts").asLong(),
                0,
                encoder.encodeFeatures(n.get("features"), labels)));
    }

    @Override
    public TypeInformation<TrainExample> getProducedType() {
        return TypeInformation.of(TrainExample.class);
    }
}
