package org.mmoestream.model;

import java.util.List;
import java.util.Set;

/**
 * One task: binary (log-loss on a 0/1 label), or regression on a real value (mean squared error,
 * or a log-normal likelihood for skewed positive values such as a conversion's value).
 *
 * @param name task name ({@code ctr}, {@code cvr} or any name for generic data)
 * @param label the CSV column (or event label) holding its 0/1 label
 * @param maskedBy name of the task whose positive rows alone carry this task's loss (CVR is
 *     trained on clicked rows only), or null for every row
 * @param positive label values that mean 1 (empty: the label must be the number 0 or 1)
 * @param negative label values that mean 0 (empty with {@code positive} given: every other value)
 * @param event the streaming label this task takes, {@link #CLICK} or {@link #CONVERSION}, or one
 *     of ES-DFM's auxiliary delay labels ({@code click_delayed}, {@code click_real_negative}, {@code
 *     conversion_delayed}, {@code conversion_real_negative}; see {@link #delayRole}), or null for a
 *     task of labeled files only; defaults to {@code label} when that is one of these, so a spec can
 *     name a file's columns (Ali-CCP's {@code purchase}) and still train online
 * @param weight the task's fixed weight in the total loss (null, as in a snapshot written before
 *     weights: 1)
 * @param loss the task's loss, which also makes it binary or a regression (null: {@link
 *     Loss#LOGLOSS}); a regression task on the {@code conversion} event takes the conversion's
 *     value as its label (0 for an impression without a conversion)
 */
public record TaskSpec(
        String name,
        String label,
        String maskedBy,
        Set<String> positive,
        Set<String> negative,
        String event,
        Double weight,
        Loss loss) {
    public static final String CLICK = "click";
    public static final String CONVERSION = "conversion";
    /** The suffixes of the auxiliary delay heads' events, after {@code click_} or {@code conversion_}. */
    public static final String DELAYED = "_delayed";

    public static final String REAL_NEGATIVE = "_real_negative";

    /**
     * What a binary task of a streaming event predicts: the event ({@link #LABEL}), or, for {@code
     * join.feedback: es-dfm} (Yang et al., AAAI 2021), one of the auxiliary delay heads of that event:
     * {@link #DELAYED}, whether a positive of the event comes only after the observation window
     * (f_dp, over every impression), or {@link #REAL_NEGATIVE}, whether an impression without the
     * event at the end of the observation window never has it (f_rn, over those impressions).
     */
    public enum DelayRole {
        LABEL,
        DELAYED,
        REAL_NEGATIVE
    }

    /** Whether {@code e} names a streaming event: click, conversion, or one of their delay heads' events. */
    public static boolean knownEvent(String e) {
        for (String base : List.of(CLICK, CONVERSION)) {
            if (e.equals(base) || e.equals(base + DELAYED) || e.equals(base + REAL_NEGATIVE)) {
                return true;
            }
        }
        return false;
    }

    /** A task's loss and output. */
    public enum Loss {
        /** Binary cross-entropy; the head outputs a probability. */
        LOGLOSS,
        /** Mean squared error; the head outputs the value (its logit). */
        MSE,
        /**
         * Log-normal negative log-likelihood on labels above 0 (others leave the row out): the logit
         * is mu of log y, sigma^2 a learned parameter of the task ({@code tower.<task>.log_variance});
         * the head outputs the mean, exp(mu + sigma^2 / 2).
         */
        LOGNORMAL
    }

    public TaskSpec {
        positive = Set.copyOf(positive);
        negative = Set.copyOf(negative);
        if (event == null && label != null && knownEvent(label)) {
            event = label;
        }
        if (weight == null) {
            weight = 1.0;
        }
        if (loss == null) {
            loss = Loss.LOGLOSS;
        }
        if (!(weight > 0) || weight.isInfinite()) {
            throw new IllegalArgumentException("task " + name + ": weight must be above 0, got " + weight);
        }
    }

    /** A task of weight 1. */
    public TaskSpec(
            String name, String label, String maskedBy, Set<String> positive, Set<String> negative, String event) {
        this(name, label, maskedBy, positive, negative, event, 1.0, Loss.LOGLOSS);
    }

    /** The click or conversion event this task's label comes from (null without an event). */
    public String baseEvent() {
        if (event == null) {
            return null;
        }
        return event.startsWith(CLICK) ? CLICK : CONVERSION;
    }

    /** Whether delay heads of its event would weight this task: a probability of the click or the conversion. */
    public boolean delayWeighted() {
        return !regression() && event != null && delayRole() == DelayRole.LABEL;
    }

    /** What the task predicts of its base event: the event, or an ES-DFM delay head's label. */
    public DelayRole delayRole() {
        return roleOf(event);
    }

    /** What a task of streaming event {@code e} predicts (null, or not a delay head's event: the event). */
    public static DelayRole roleOf(String e) {
        if (e == null || !knownEvent(e) || e.equals(CLICK) || e.equals(CONVERSION)) {
            return DelayRole.LABEL;
        }
        return e.endsWith(DELAYED) ? DelayRole.DELAYED : DelayRole.REAL_NEGATIVE;
    }

    /** Whether the task predicts a value, not a probability. */
    public boolean regression() {
        return loss != Loss.LOGLOSS;
    }

    /** A task without an explicit event: the event is the label when that is click or conversion. */
    public TaskSpec(String name, String label, String maskedBy, Set<String> positive, Set<String> negative) {
        this(name, label, maskedBy, positive, negative, null);
    }

    public TaskSpec withWeight(double w) {
        return new TaskSpec(name, label, maskedBy, positive, negative, event, w, loss);
    }

    /** A task whose label column holds 0/1. */
    public static TaskSpec binary(String name, String label, String maskedBy) {
        return new TaskSpec(name, label, maskedBy, Set.of(), Set.of());
    }
}
