package org.mmoestream.join;

import java.util.Locale;

/**
 * When the join hands an impression to training ({@code join.feedback}).
 *
 * <ul>
 *   <li>{@link #WAIT}: once, when its labels are final (at once on a conversion, else when its
 *       click or conversion window closes), as the attribution rules in DESIGN.md say;
 *   <li>{@link #FNW}: fake negatives with weights (Ktena et al., RecSys 2019): once when its
 *       observation window closes ({@code join.observation-window}, 0 by default: when the
 *       watermark passes the impression), with the labels known by then, and again for each click
 *       and conversion that comes later (when the watermark passes it), as a positive of the tasks
 *       it labels; the trainer weights
 *       each example's loss by the model's own prediction p (positives x (1 + p), negatives x (1 -
 *       p)(1 + p)), which undoes in expectation the bias of counting every later positive once as a
 *       negative;
 *   <li>{@link #FNC}: fake-negative calibration (the same paper): sent as with FNW, trained without
 *       weights, so a head learns b = p / (1 + p), and served as p = b / (1 - b) (the model's spec
 *       carries it: {@code Architecture#fakeNegativeCalibration}, so every reader serves the same);
 *   <li>{@link #DEFER}: as FNW, a positive within the observation window sent again at once
 *       ({@code REPEAT}), and, when the windows close without a positive, the impression again as a
 *       real negative ({@code NEGATIVE}), so every impression is trained twice per event (Gu et al.,
 *       KDD 2021): the trainer weights positives by p / (p - f_dp / 2) and negatives by (1 - p) /
 *       (1 - p + f_dp / 2), which makes the duplicated stream's loss the true one's in expectation,
 *       where f_dp, the probability that the event comes after the window, is a delay head of the
 *       model (as ES-DFM's); at a window of 0 every positive is a delayed one, f_dp = p, and no
 *       auxiliary head is needed (positives 2, negatives (1 - p) / (1 - p / 2));
 *   <li>{@link #ES_DFM}: ES-DFM (Yang et al., AAAI 2021): the emissions of FNW at an observation
 *       window c (the paper's elapsed-time window), and, when the windows close without a
 *       conversion, a {@code CLOSED} emission for the auxiliary delay heads only; the model has, per
 *       event it corrects, a head f_dp (the event comes after c) and a head f_rn (it never comes,
 *       given none by c), tasks of the same MMoE trained on that stream's labels ({@code
 *       LabeledExample#delayLabels}), and the trainer weights the event's task: positives x (1 +
 *       f_dp), negatives x (1 + f_dp) f_rn.
 *   <li>{@link #FNW_MATCHED}: as FNW at an observation window of 0, with each impression's fake
 *       negative split in two: of the click's tasks at once ({@code CLICK_NEGATIVE}), and of the
 *       conversion's tasks ({@code CONVERSION_NEGATIVE}) at a delay after the impression drawn from
 *       the delays of recent conversions after their impressions ({@link RecentDelays}), so that an
 *       item's fake negatives reach training with the delays its positives do. FNW's weights assume a
 *       stream whose make-up does not change while the positives are on their way; an item shown
 *       most while it is new breaks that (its fake negatives come first, its positives hours later),
 *       and matching the delays restores it whatever the item's traffic does. FNW's weights.
 * </ul>
 */
public enum Feedback {
    WAIT,
    FNW,
    FNC,
    DEFER,
    ES_DFM,
    FNW_MATCHED;

    /** The mode named {@code s} (case-insensitive); IllegalArgumentException naming the choices. */
    public static Feedback parse(String s) {
        for (Feedback f : values()) {
            if (f.toString().equalsIgnoreCase(s.trim())) {
                return f;
            }
        }
        throw new IllegalArgumentException("'" + s + "' is not one of wait, fnw, fnc, defer, es-dfm, fnw-matched");
    }

    /** Whether an impression goes to training before its labels are final. */
    public boolean early() {
        return this != WAIT;
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }
}
