package org.mmoestream.event;

/**
 * One validated impression, click or conversion, as it enters the label join. A Flink POJO:
 * public fields of primitive and String types only, so no Kryo is involved. The impression's
 * features stay the JSON text they arrived as; the join passes them on unparsed.
 */
public class Event {
    public static final byte IMPRESSION = 0;
    public static final byte CLICK = 1;
    public static final byte CONVERSION = 2;

    /** Event kinds, for counting. */
    public enum Kind {
        IMPRESSION,
        CLICK,
        CONVERSION
    }

    /** {@link #IMPRESSION}, {@link #CLICK} or {@link #CONVERSION}. */
    public byte type;

    public String requestId;
    /** Event time, epoch milliseconds. */
    public long ts;
    /** Model id (impressions), default {@code "default"}. */
    public String model;
    /** The impression's {@code features} object as JSON text, {@code "{}"} when absent. */
    public String features;
    /** Optional click id; null when absent. */
    public String clickId;
    /** Optional conversion value; NaN when absent. */
    public double value = Double.NaN;

    public Event() {}

    public static Event impression(String requestId, long ts, String model, String featuresJson) {
        Event e = of(IMPRESSION, requestId, ts);
        e.model = model;
        e.features = featuresJson;
        return e;
    }

    public static Event click(String requestId, long ts, String clickId) {
        Event e = of(CLICK, requestId, ts);
        e.clickId = clickId;
        return e;
    }

    public static Event conversion(String requestId, long ts, double value) {
        Event e = of(CONVERSION, requestId, ts);
        e.value = value;
        return e;
    }

    private static Event of(byte type, String requestId, long ts) {
        Event e = new Event();
        e.type = type;
        e.requestId = requestId;
        e.ts = ts;
        return e;
    }

    public String typeName() {
        return switch (type) {
            case IMPRESSION -> "impression";
            case CLICK -> "click";
            default -> "conversion";
        };
    }

    @Override
    public String toString() {
        return typeName() + "(" + requestId + "@" + ts + ")";
    }
}
