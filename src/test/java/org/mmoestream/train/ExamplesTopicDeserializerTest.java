package org.mmoestream.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.event.LabeledExample;
import org.mmoestream.event.serde.JsonRecords;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.SpecLoader;
import org.mmoestream.model.codec.SpecJson;

/**
 * A record of the examples topic reads back as the pipeline's trainer gets the join's emission: an
 * early mode's click trains the click's tasks only (the conversion's label NaN, not a negative),
 * and its kind and final labels travel on.
 */
class ExamplesTopicDeserializerTest {
    @Test
    void anEarlyClickEmissionTrainsOnlyTheClicksTasks() throws Exception {
        ModelSpec spec = SpecLoader.load(Path.of("examples/ctr-cvr.yaml"));
        LabeledExample e = new LabeledExample();
        e.requestId = "r1";
        e.model = "m";
        e.features = "{\"user\":\"u1\",\"item\":\"i1\",\"device\":\"d1\",\"price\":20.0}";
        e.impressionTs = 1_700_000_000_000L;
        e.clickTs = e.impressionTs + 1_000;
        e.click = 1;
        e.conversion = 0;
        e.kind = LabeledExample.Kind.CLICK;
        List<TrainExample> out = new ArrayList<>();
        new ExamplesTopicDeserializer(SpecJson.write(spec))
                .deserialize(new ConsumerRecord<>("examples", 0, 0, new byte[0], JsonRecords.example(e)), collect(out));
        assertEquals(1, out.size());
        TrainExample t = out.get(0);
        int ctr = spec.taskIndex("ctr");
        int cvr = spec.taskIndex("cvr");
        assertEquals(1f, t.labels[ctr]);
        assertTrue(Float.isNaN(t.labels[cvr]), "a click brings no news of the conversion: " + t.labels[cvr]);
        assertEquals(LabeledExample.Kind.CLICK.ordinal(), t.kind);
        assertEquals(1f, t.finalLabels[ctr]);
        assertTrue(Float.isNaN(t.finalLabels[cvr]), "the conversion is not final yet");
        assertEquals(0, JsonRecords.readExample(JsonRecords.example(e)).sentAt, "not known: not written");
        e.sentAt = e.clickTs;
        assertEquals(e.clickTs, JsonRecords.readExample(JsonRecords.example(e)).sentAt);
    }

    /**
     * An elapsed feature ({@code features.sparse[].elapsed}) is encoded from the hours between the
     * impression and the event time that sent the example, whatever the features carry; serving
     * takes its serving value.
     */
    @Test
    void anElapsedFeatureTakesTheHoursFromTheImpressionToItsEmission(@TempDir Path dir) throws Exception {
        String yaml = Files.readString(Path.of("examples/ctr-cvr.yaml"));
        String user = "    - {name: user, buckets: 10000}\n";
        assertTrue(yaml.contains(user), yaml);
        Path file = dir.resolve("elapsed.yaml");
        Files.writeString(
                file,
                yaml.replace(user, user + "    - {name: waited, buckets: 64, dim: 2, bias: true, elapsed: true}\n")
                        .replace("model:\n", "model:\n  bias_tasks: [cvr]\n  bias_serving: {waited: 0}\n"));
        ModelSpec spec = SpecLoader.load(file);
        assertTrue(spec.features().sparse().get(1).elapsed());
        assertEquals(spec, SpecJson.read(SpecJson.write(spec)), "the snapshot's spec keeps it");
        ExampleEncoder encoder = new ExampleEncoder(spec);
        String features = "{\"user\":\"u1\",\"item\":\"i1\",\"device\":\"d1\",\"price\":20.0,\"waited\":9}";
        float[] labels = encoder.labels(0, 0, true, true);
        long hour = 3_600_000L;
        int waited = encoder.encodeFeatures(features, labels, 3 * hour + 5).sparseIds()[1][0];
        assertEquals(encoder.encode(features.replace(":9}", ":3}"), 0, 0).sparseIds()[1][0], waited);
        assertNotEquals(encoder.encode(features, 0, 0).sparseIds()[1][0], waited, "the event's own value is not read");
        int first = encoder.encodeFeatures(features, labels, hour - 1).sparseIds()[1][0];
        assertEquals(encoder.encode(features.replace(":9}", ":0}"), 0, 0).sparseIds()[1][0], first);
        assertEquals(first, encoder.encodeFeatures(features, null).sparseIds()[1][0], "served as in its first hour");
    }

    /**
     * An elapsed feature with {@code elapsed_by} takes {@code <hours>x<class>}, the class of the
     * impression's value of the other feature (read from that feature's column), in training and
     * {@code <serving value>x<class>} at serving; a missing or blank value is its own class, a value
     * that is not a number is refused naming the feature.
     */
    @Test
    void anElapsedFeatureCrossedWithTheItemsAgeTakesTheHoursWithinEachClass(@TempDir Path dir) throws Exception {
        String yaml = Files.readString(Path.of("examples/ctr-cvr.yaml"));
        String user = "    - {name: user, buckets: 10000}\n";
        Path file = dir.resolve("elapsed-by.yaml");
        Files.writeString(
                file,
                yaml.replace(
                                user,
                                user + "    - {name: age, column: item_age, buckets: 1024}\n"
                                        + "    - {name: waited, buckets: 4096, dim: 2, bias: true, elapsed: true, "
                                        + "elapsed_by: {feature: age, bounds: [4, 16]}}\n")
                        .replace("model:\n", "model:\n  bias_tasks: [cvr]\n  bias_serving: {waited: 0.0}\n"));
        ModelSpec spec = SpecLoader.load(file);
        assertEquals("0", spec.architecture().biasTower().serving().get("waited"), "served as training writes 0 h");
        assertEquals(spec, SpecJson.read(SpecJson.write(spec)), "the snapshot's spec keeps it");
        ModelSpec plain = SpecLoader.load(Path.of("examples/ctr-cvr.yaml"));
        assertTrue(!SpecJson.write(plain).contains("elapsedBy"), "left out when unused, for readers from before it");
        ExampleEncoder encoder = new ExampleEncoder(spec);
        String features = "{\"user\":\"u1\",\"item\":\"i1\",\"device\":\"d1\",\"price\":20.0,"
                + "\"item_age\":AGE,\"waited\":\"W\"}";
        float[] labels = encoder.labels(0, 0, true, true);
        long hour = 3_600_000L;
        int w = 2;
        java.util.function.BiFunction<String, String, Integer> own =
                (age, waited) -> encoder.encode(features.replace("AGE", age).replace("W", waited), 0, 0)
                        .sparseIds()[w][0];
        java.util.function.BiFunction<String, Long, Integer> trained =
                (age, elapsed) -> encoder.encodeFeatures(features.replace("AGE", age), labels, elapsed)
                        .sparseIds()[w][0];
        assertEquals(own.apply("5", "3x1"), trained.apply("5", 3 * hour + 5));
        assertEquals(trained.apply("4", 3 * hour), trained.apply("15.9", 3 * hour), "one class, from its bound");
        assertEquals(own.apply("3.9", "3x0"), trained.apply("3.9", 3 * hour));
        assertEquals(own.apply("16", "3x2"), trained.apply("16", 3 * hour));
        assertEquals(own.apply("\"40\"", "3x2"), trained.apply("\"40\"", 3 * hour), "a number as text");
        assertEquals(own.apply("[5]", "3x1"), trained.apply("[5]", 3 * hour), "a list of one value");
        assertEquals(own.apply("null", "3xnone"), trained.apply("null", 3 * hour), "missing");
        assertEquals(own.apply("\" \"", "3xnone"), trained.apply("\" \"", 3 * hour), "blank");
        assertNotEquals(trained.apply("3", 3 * hour), trained.apply("5", 3 * hour));
        assertNotEquals(trained.apply("5", 3 * hour), trained.apply("5", 4 * hour));
        java.util.function.Function<String, Integer> served = age ->
                encoder.encodeFeatures(features.replace("AGE", age), null).sparseIds()[w][0];
        assertEquals(own.apply("20", "0x2"), served.apply("20"), "served as in its first hour, within its class");
        assertEquals(trained.apply("20", hour - 1), served.apply("20"));
        assertEquals(trained.apply("1", 0L), served.apply("1"));
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(
                IllegalArgumentException.class, () -> trained.apply("\"old\"", hour));
        assertEquals(
                "feature item_age must be a number to class the hours of waited (elapsed_by), got \"old\"",
                e.getMessage());
        e = org.junit.jupiter.api.Assertions.assertThrows(
                IllegalArgumentException.class, () -> served.apply("{\"a\":1}"));
        assertEquals(
                "feature item_age must be a number to class the hours of waited (elapsed_by), got {\"a\":1}",
                e.getMessage());
    }

    private static Collector<TrainExample> collect(List<TrainExample> out) {
        return new Collector<>() {
            @Override
            public void collect(TrainExample record) {
                out.add(record);
            }

            @Override
            public void close() {}
        };
    }
}
