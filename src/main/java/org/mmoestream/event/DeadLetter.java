package org.mmoestream.event;

/**
 * A record that failed validation, on its way to the dead-letter topic: where it came from, what
 * kind of problem it has ({@link #kind}, a short code the metrics count by), why it was rejected in
 * one sentence, and the bytes as received.
 */
public class DeadLetter {
    /** Kinds of event records the parser rejects. */
    public static final String NULL_VALUE = "null_value";

    public static final String TOO_LARGE = "too_large";
    public static final String NOT_JSON = "not_json";
    public static final String NOT_OBJECT = "not_object";
    public static final String MISSING_FIELD = "missing_field";
    public static final String BAD_FIELD = "bad_field";
    public static final String BAD_TIMESTAMP = "bad_timestamp";
    public static final String BAD_FEATURE = "bad_feature";
    public static final String UNEXPECTED_TOPIC = "unexpected_topic";
    /** An example whose features the model's spec cannot encode. */
    public static final String UNENCODABLE_EXAMPLE = "unencodable_example";
    /** A score request whose features the model's spec cannot encode. */
    public static final String UNENCODABLE_REQUEST = "unencodable_request";
    /** A score request for a model that has no version (yet, or within scoring.unknown-model-wait). */
    public static final String NO_MODEL = "no_model";

    public String sourceTopic;
    public int partition;
    public long offset;
    public String kind;
    public String reason;
    public byte[] raw;

    public DeadLetter() {}

    public DeadLetter(String sourceTopic, int partition, long offset, String kind, String reason, byte[] raw) {
        this.sourceTopic = sourceTopic;
        this.partition = partition;
        this.offset = offset;
        this.kind = kind;
        this.reason = reason;
        this.raw = raw;
    }

    @Override
    public String toString() {
        return sourceTopic + "-" + partition + "@" + offset + ": " + kind + ": " + reason;
    }
}
