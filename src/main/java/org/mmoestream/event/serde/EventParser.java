package org.mmoestream.event.serde;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.util.Iterator;
import java.util.Map;
import org.mmoestream.event.DeadLetter;
import org.mmoestream.event.Event;

/**
 * Validates one JSON event (DESIGN.md, Events) and returns it, or throws {@link Invalid} with a
 * reason that names the problem: not JSON, a missing or mistyped field, a non-finite number, an
 * absurd timestamp, or a record over the size limit. Pure: no Flink, no Kafka.
 */
public final class EventParser {
    /** 2000-01-01T00:00:00Z: earlier timestamps are taken for a unit or clock error. */
    public static final long MIN_TS = 946_684_800_000L;

    private static final ObjectMapper JSON = JsonMapper.builder()
            .disable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            // A record is one JSON value: "{...}}}" or "{...} {...}" is not an event.
            .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private final int maxBytes;
    private final long maxFutureMillis;

    /** A record that fails validation; the message is the dead-letter reason. */
    public static final class Invalid extends Exception {
        private final String kind;

        /** A record of {@code kind} ({@link DeadLetter}'s codes) rejected for {@code reason}. */
        public Invalid(String kind, String reason) {
            super(reason, null, false, false);
            this.kind = kind;
        }

        public String kind() {
            return kind;
        }
    }

    public EventParser(int maxBytes, long maxFutureMillis) {
        this.maxBytes = maxBytes;
        this.maxFutureMillis = maxFutureMillis;
    }

    /** Parses a record of {@code type} ({@link Event#IMPRESSION} ...) at wall-clock time {@code now}. */
    public Event parse(byte type, byte[] bytes, long now) throws Invalid {
        if (bytes == null) {
            throw new Invalid(DeadLetter.NULL_VALUE, "record has no value (null)");
        }
        if (bytes.length > maxBytes) {
            throw new Invalid(
                    DeadLetter.TOO_LARGE, "record is " + bytes.length + " bytes, over the limit of " + maxBytes);
        }
        JsonNode root;
        try {
            root = JSON.readTree(bytes);
        } catch (IOException e) {
            throw new Invalid(DeadLetter.NOT_JSON, "not valid JSON: " + firstLine(e.getMessage()));
        }
        if (root == null || !root.isObject()) {
            throw new Invalid(DeadLetter.NOT_OBJECT, "not a JSON object");
        }
        String requestId = requiredString(root, "request_id");
        long ts = timestamp(root, now);
        return switch (type) {
            case Event.IMPRESSION ->
                Event.impression(requestId, ts, optionalString(root, "model", "default"), features(root));
            case Event.CLICK -> Event.click(requestId, ts, optionalString(root, "click_id", null));
            case Event.CONVERSION -> Event.conversion(requestId, ts, optionalNumber(root, "value"));
            default -> throw new IllegalArgumentException("unknown event type " + type);
        };
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "unreadable";
        }
        String line = s.split("\n")[0];
        return line.length() > 200 ? line.substring(0, 200) : line;
    }

    private static String requiredString(JsonNode root, String field) throws Invalid {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) {
            throw new Invalid(DeadLetter.MISSING_FIELD, "lacks " + field);
        }
        if (!v.isTextual() || v.asText().isEmpty()) {
            throw new Invalid(
                    DeadLetter.BAD_FIELD,
                    field + " must be a non-empty string, got "
                            + v.getNodeType().name().toLowerCase());
        }
        return v.asText();
    }

    private static String optionalString(JsonNode root, String field, String dflt) throws Invalid {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isTextual()) {
            throw new Invalid(
                    DeadLetter.BAD_FIELD,
                    field + " must be a string, got " + v.getNodeType().name().toLowerCase());
        }
        return v.asText();
    }

    private static double optionalNumber(JsonNode root, String field) throws Invalid {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) {
            return Double.NaN;
        }
        if (!v.isNumber()) {
            throw new Invalid(
                    DeadLetter.BAD_FIELD,
                    field + " must be a number, got " + v.getNodeType().name().toLowerCase());
        }
        if (!Double.isFinite(v.asDouble())) {
            throw new Invalid(DeadLetter.BAD_FIELD, field + " is not a finite number");
        }
        return v.asDouble();
    }

    private long timestamp(JsonNode root, long now) throws Invalid {
        JsonNode v = root.get("ts");
        if (v == null || v.isNull()) {
            throw new Invalid(DeadLetter.MISSING_FIELD, "lacks ts");
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw new Invalid(
                    DeadLetter.BAD_TIMESTAMP, "ts must be an integer (epoch milliseconds), got " + v.toString());
        }
        long ts = v.asLong();
        if (ts < MIN_TS) {
            throw new Invalid(
                    DeadLetter.BAD_TIMESTAMP,
                    "ts " + ts + " is before the year 2000 (seconds instead of milliseconds?)");
        }
        if (ts > now + maxFutureMillis) {
            throw new Invalid(
                    DeadLetter.BAD_TIMESTAMP,
                    "ts " + ts + " is more than " + maxFutureMillis / 3_600_000 + " h ahead of the clock");
        }
        return ts;
    }

    private static String features(JsonNode root) throws Invalid {
        JsonNode f = root.get("features");
        if (f == null || f.isNull()) {
            return "{}";
        }
        if (!f.isObject()) {
            throw new Invalid(
                    DeadLetter.BAD_FIELD,
                    "features must be an object, got " + f.getNodeType().name().toLowerCase());
        }
        Iterator<Map.Entry<String, JsonNode>> it = f.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode v = e.getValue();
            if (v.isTextual() || v.isNull()) {
                continue;
            }
            if (v.isNumber()) {
                if (!Double.isFinite(v.asDouble())) {
                    throw new Invalid(DeadLetter.BAD_FEATURE, "features." + e.getKey() + " is not a finite number");
                }
                continue;
            }
            if (v.isArray()) {
                for (JsonNode x : v) {
                    if (!x.isTextual()) {
                        throw new Invalid(
                                DeadLetter.BAD_FEATURE, "features." + e.getKey() + " must be an array of strings");
                    }
                }
                continue;
            }
            throw new Invalid(
                    DeadLetter.BAD_FEATURE,
                    "features." + e.getKey() + " must be a string, a number or an array of strings");
        }
        return f.toString();
    }
}
