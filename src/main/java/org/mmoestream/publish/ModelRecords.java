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

    /**
     * The chunk a model-topic record carries, or null for a record without the {@code mmoe.*}
     * headers (not a model record); throws IllegalArgumentException naming the header when a header
     * is present but unreadable.
     */
    public static ModelChunk chunkOf(org.apache.kafka.clients.consumer.ConsumerRecord<byte[], byte[]> r) {
        String model = header(r, MODEL);
        String version = header(r, VERSION);
        String chunk = header(r, CHUNK);
        if (model == null && version == null && chunk == null) {
            return null;
        }
        if (model == null || version == null || chunk == null) {
            throw new IllegalArgumentException(
                    "lacks header " + (model == null ? MODEL : version == null ? VERSION : CHUNK));
        }
        if (r.value() == null) {
            throw new IllegalArgumentException("has no value");
        }
        ModelChunk c = new ModelChunk();
        c.model = model;
        try {
            c.version = Long.parseLong(version);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("header " + VERSION + " is not a number: '" + version + "'");
        }
        c.kind = header(r, KIND);
        String[] ij = chunk.split("/");
        try {
            if (ij.length != 2) {
                throw new NumberFormatException();
            }
            c.chunk = Integer.parseInt(ij[0]);
            c.chunks = Integer.parseInt(ij[1]);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("header " + CHUNK + " is not i/n: '" + chunk + "'");
        }
        c.bytes = r.value();
        return c;
    }

    private static String header(org.apache.kafka.clients.consumer.ConsumerRecord<byte[], byte[]> r, String key) {
        org.apache.kafka.common.header.Header h = r.headers().lastHeader(key);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
