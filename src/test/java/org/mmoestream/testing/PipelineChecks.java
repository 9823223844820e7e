package org.mmoestream.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.mmoestream.event.LabeledExample;
import org.mmoestream.event.serde.JsonRecords;
import org.mmoestream.publish.ModelReader;

/** What an exactly-once run of the pipeline job leaves on its committed topics. */
public final class PipelineChecks {
    private PipelineChecks() {}

    /**
     * Per model of {@code impressions} (model id -> impressions written): the versions on the
     * committed model topic are 1, 2, ..., n (at least one), the first is a full snapshot, and the
     * last one has trained on exactly that model's examples, so none was lost or trained twice; and
     * the reader rejected no record (a repeated or out-of-order delta would be rejected, not applied).
     */
    public static void assertVersionsAndCounts(ModelReader reader, Map<String, Integer> impressions) {
        assertEquals(List.of(), reader.rejected(), "model records the reader could not apply");
        for (String model : impressions.keySet()) {
            List<ModelReader.Version> own = reader.versions().stream()
                    .filter(v -> v.model().equals(model))
                    .toList();
            List<Long> versions = own.stream().map(ModelReader.Version::version).toList();
            // At least the one at the end of input; a run shorter than publish.interval (after a
            // restore, the versions before it may not have been committed) has only that one.
            assertFalse(versions.isEmpty(), model + " has no version");
            System.out.println(model + ": versions 1.." + versions.size() + " on the committed topic");
            for (int i = 0; i < versions.size(); i++) {
                assertEquals(i + 1, versions.get(i), model + " versions without gaps or repeats: " + versions);
            }
            assertEquals("full", own.get(0).kind(), model + " starts with a full snapshot");
            assertNotNull(reader.model(model), model + " rebuilt from the topic");
            assertEquals(
                    (long) impressions.get(model),
                    reader.model(model).examplesSeen(),
                    model + " trained on every joined example once");
        }
    }

    /**
     * Reads the committed examples topic and checks that it holds exactly one example per request id
     * of {@code expected} (request id -> the example's model), with that model, and nothing else;
     * returns the examples by request id.
     */
    public static Map<String, LabeledExample> assertOneExamplePerImpression(
            String bootstrap, String topic, Map<String, String> expected, Duration timeout) throws Exception {
        List<ConsumerRecord<byte[], byte[]>> records =
                TopicReader.readAll(bootstrap, topic, expected.size(), timeout, Duration.ofSeconds(2));
        Map<String, LabeledExample> byId = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            LabeledExample e = JsonRecords.readExample(r.value());
            assertFalse(byId.containsKey(e.requestId), "duplicate example " + e.requestId);
            assertTrue(expected.containsKey(e.requestId), "example of an unknown request " + e.requestId);
            assertEquals(expected.get(e.requestId), e.model, "model of " + e.requestId);
            byId.put(e.requestId, e);
        }
        assertEquals(
                expected.size(),
                byId.size(),
                "one example per impression (" + (expected.size() - byId.size()) + " missing)");
        return byId;
    }
}
