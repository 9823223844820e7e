package org.mmoestream.event.serde;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import org.mmoestream.event.DeadLetter;
import org.mmoestream.event.LabeledExample;

/** JSON of the records the jobs write: labeled examples and dead letters (DESIGN.md, Events). */
public final class JsonRecords {
    private static final ObjectMapper JSON = new ObjectMapper();

    private JsonRecords() {}

    /**
     * {@code {"request_id", "model", "features", "click", "conversion", "impression_ts", ...}}, {@code
     * "sent_ts"} (the event time that sent it) when known, and {@code "kind"} ({@code observed},
     * {@code click}, {@code conversion}, {@code negative}, {@code closed}, {@code repeat}, {@code
     * click_negative} or {@code conversion_negative}) for an early emission.
     */
    public static byte[] example(LabeledExample e) {
        ObjectNode n = JSON.createObjectNode();
        n.put("request_id", e.requestId);
        n.put("model", e.model);
        try {
            n.set("features", JSON.readTree(e.features));
        } catch (JsonProcessingException ex) {
            throw new IllegalStateException("features of " + e.requestId + " are not JSON", ex);
        }
        n.put("click", e.click);
        n.put("conversion", e.conversion);
        n.put("impression_ts", e.impressionTs);
        putTs(n, "click_ts", e.clickTs);
        putTs(n, "conversion_ts", e.conversionTs);
        if (!Double.isNaN(e.conversionValue)) {
            n.put("conversion_value", e.conversionValue);
        }
        if (e.kind != LabeledExample.Kind.FINAL) {
            n.put("kind", e.kind.name().toLowerCase(java.util.Locale.ROOT));
        }
        if (e.sentAt != 0) {
            n.put("sent_ts", e.sentAt);
        }
        return bytes(n);
    }

    /** Reads back what {@link #example} wrote. */
    public static LabeledExample readExample(byte[] bytes) {
        try {
            JsonNode n = JSON.readTree(bytes);
            LabeledExample e = new LabeledExample();
            e.requestId = n.get("request_id").asText();
            e.model = n.get("model").asText();
            e.features = n.get("features").toString();
            e.click = n.get("click").asInt();
            e.conversion = n.get("conversion").asInt();
            e.impressionTs = n.get("impression_ts").asLong();
            e.clickTs = n.hasNonNull("click_ts") ? n.get("click_ts").asLong() : LabeledExample.NONE;
            e.conversionTs =
                    n.hasNonNull("conversion_ts") ? n.get("conversion_ts").asLong() : LabeledExample.NONE;
            e.conversionValue =
                    n.hasNonNull("conversion_value") ? n.get("conversion_value").asDouble() : Double.NaN;
            e.kind = n.hasNonNull("kind")
                    ? LabeledExample.Kind.valueOf(n.get("kind").asText().toUpperCase(java.util.Locale.ROOT))
                    : LabeledExample.Kind.FINAL;
            e.sentAt = n.hasNonNull("sent_ts") ? n.get("sent_ts").asLong() : 0;
            return e;
        } catch (java.io.IOException ex) {
            throw new IllegalArgumentException("not an example record", ex);
        }
    }

    /** A request (impression shape) as JSON, for the {@code raw} of a dead letter made after parsing. */
    public static String request(org.mmoestream.event.Event e) {
        ObjectNode n = JSON.createObjectNode();
        n.put("request_id", e.requestId);
        n.put("ts", e.ts);
        n.put("model", e.model);
        try {
            n.set("features", JSON.readTree(e.features));
        } catch (JsonProcessingException ex) {
            n.put("features", e.features);
        }
        return n.toString();
    }

    /** {@code {"source_topic", "partition", "offset", "reason", "raw"}}; raw is base64 if not UTF-8. */
    public static byte[] deadLetter(DeadLetter d) {
        ObjectNode n = JSON.createObjectNode();
        n.put("source_topic", d.sourceTopic);
        n.put("partition", d.partition);
        n.put("offset", d.offset);
        n.put("kind", d.kind);
        n.put("reason", d.reason);
        String text = utf8(d.raw);
        if (d.raw == null) {
            n.putNull("raw");
        } else if (text != null) {
            n.put("raw", text);
        } else {
            n.put("raw", Base64.getEncoder().encodeToString(d.raw));
            n.put("raw_encoding", "base64");
        }
        return bytes(n);
    }

    private static String utf8(byte[] b) {
        if (b == null) {
            return null;
        }
        try {
            return StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(b))
                    .toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    private static void putTs(ObjectNode n, String k, long ts) {
        if (ts == LabeledExample.NONE) {
            n.putNull(k);
        } else {
            n.put(k, ts);
        }
    }

    private static byte[] bytes(JsonNode n) {
        try {
            return JSON.writeValueAsBytes(n);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
