package org.mmoestream.event;

/**
 * An impression with its multi-task labels, emitted by the label join: final labels ({@link
 * Kind#FINAL}, the only kind with {@code join.feedback: wait}), or, with an early feedback mode, the
 * labels known when its observation window closed ({@link Kind#OBSERVED}) and later a click or a
 * conversion that came after that ({@link Kind#CLICK}, {@link Kind#CONVERSION}). Timestamps of
 * events that did not happen are {@link #NONE}.
 */
public class LabeledExample {
    public static final long NONE = Long.MIN_VALUE;

    /** What an emission of the join says about its impression. */
    public enum Kind {
        /** The labels are final (attribution windows closed, or a conversion came). */
        FINAL,
        /** The labels known when the observation window closed; a click or conversion may follow. */
        OBSERVED,
        /** A click that came after the impression was observed: a positive of the click's tasks. */
        CLICK,
        /** A conversion that came after the impression was observed: a positive of the conversion's tasks. */
        CONVERSION,
        /**
         * {@code join.feedback: defer}: the windows closed without a positive: a real negative of the
         * tasks it was not a positive of (after a click, the conversion's only); with the delay
         * heads, their closing labels as {@link #CLOSED} has them.
         */
        NEGATIVE,
        /**
         * {@code join.feedback: es-dfm}: the windows closed without a conversion: the labels of the
         * auxiliary delay heads only (a real negative of the conversion, and of the click when there
         * was none); no other task trains on it.
         */
        CLOSED,
        /**
         * {@code join.feedback: defer} at an observation window above 0: the positives of the
         * observed emission sent once more, at once (DEFER's second copy of a positive within the
         * window); the tasks of the events that had not come by then get no news from it.
         */
        REPEAT,
        /**
         * {@code join.feedback: fnw-matched}: the impression as a fake negative of the click's tasks
         * only, sent when the watermark passes it.
         */
        CLICK_NEGATIVE,
        /**
         * {@code join.feedback: fnw-matched}: the impression as a fake negative of the conversion's
         * tasks only, sent at a delay after it drawn from the delays of recent conversions (after
         * their impressions), so that an item's negatives reach training with the delays its
         * positives do.
         */
        CONVERSION_NEGATIVE
    }

    public String requestId;
    public String model;
    /** The impression's features, JSON text. */
    public String features;

    public int click;
    public int conversion;
    public long impressionTs;
    public long clickTs = NONE;
    public long conversionTs = NONE;
    public double conversionValue = Double.NaN;
    /** Wall-clock time (ms) at which the join made the labels final; 0 when unknown. */
    public long labeledAt;
    /**
     * Event time (ms) at which the labels became final: of the event that completed them, or the
     * window deadline that closed them (so, with live events, before any queueing); 0 when unknown.
     */
    public long finalAt;
    /**
     * Event time (ms) of what made the join send this emission (the event, or the timer: a window's
     * end, a fake negative's drawn time), so that training knows how long after its impression the
     * example came (an elapsed feature, {@code features.sparse[].elapsed}); 0 when unknown.
     */
    public long sentAt;

    public Kind kind = Kind.FINAL;

    /** Whether this emission brings news of the click (else that task's label is not trained on). */
    public boolean clickNews() {
        return switch (kind) {
            case NEGATIVE -> click == 0;
            case REPEAT -> click == 1;
            case CONVERSION, CLOSED, CONVERSION_NEGATIVE -> false;
            default -> true;
        };
    }

    /** Whether this emission brings news of the conversion. */
    public boolean conversionNews() {
        return switch (kind) {
            case REPEAT -> conversion == 1;
            case CLICK, CLOSED, CLICK_NEGATIVE -> false;
            default -> true;
        };
    }

    /**
     * The labels of ES-DFM's auxiliary delay heads in this emission: {click delayed, click real
     * negative, conversion delayed, conversion real negative}, NaN where it brings no news. Each
     * impression gets one "delayed" label per event (0 when the event came within the observation
     * window, 1 when after it, 0 when the windows closed without it) and, when the event had not
     * come by the end of the observation window, one "real negative" label (1 when it never came, 0
     * when it came later). {@code defer}'s {@link Kind#NEGATIVE} has the labels of {@link
     * Kind#CLOSED}, its {@link Kind#REPEAT} none (a second copy).
     */
    public float[] delayLabels() {
        float nan = Float.NaN;
        return switch (kind) {
            case OBSERVED -> new float[] {click == 1 ? 0 : nan, nan, conversion == 1 ? 0 : nan, nan};
            case CLICK -> new float[] {1, 0, nan, nan};
            case CONVERSION -> new float[] {nan, nan, 1, 0};
            case CLOSED, NEGATIVE -> new float[] {click == 0 ? 0 : nan, click == 0 ? 1 : nan, 0, 1};
            default -> new float[] {nan, nan, nan, nan};
        };
    }

    public LabeledExample() {}

    @Override
    public String toString() {
        return requestId + "(" + (kind == Kind.FINAL ? "" : kind.name().toLowerCase(java.util.Locale.ROOT) + ", ")
                + "click=" + click + ", conversion=" + conversion + ")";
    }
}
