package org.mmoestream.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.testing.TestSpecs;

/**
 * The rows' weights of the early feedback modes, from the model's own prediction p of each loss's
 * target: FNW (positive 1 + p, negative (1 - p)(1 + p)) and DEFER (at a waiting window of 0
 * positive 2, negative (1 - p) / (1 - p / 2); above 0 by its delayed heads); with ESMM the CVR
 * slot is CTCVR's, p = pCTR x pCVR.
 */
class FeedbackWeightsTest {
    @Test
    void eachModeWeighsPositivesAndNegativesByItsFormula() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        EncodedExample e = TestSpecs.examples(spec, 1, 1).get(0);
        // Row 0: clicked and converted; row 1: neither.
        Batch b = Batch.of(List.of(
                new EncodedExample(e.sparseIds(), e.dense(), new float[] {1, 1}),
                new EncodedExample(e.sparseIds(), e.dense(), new float[] {0, 0})));
        double[] logits = {0.4, -1.0, -0.3, 0.2};
        double c0 = Objective.sigmoid(0.4);
        double ctcvr0 = c0 * Objective.sigmoid(-1.0);
        double c1 = Objective.sigmoid(-0.3);
        double ctcvr1 = c1 * Objective.sigmoid(0.2);
        Objective o = spec.objective();
        double[] fnw = o.withWeights(Objective.Weights.FAKE_NEGATIVE).fakeNegativeWeights(logits, b);
        assertEquals(1 + c0, fnw[0], 1e-12);
        assertEquals(1 + ctcvr0, fnw[1], 1e-12);
        assertEquals((1 - c1) * (1 + c1), fnw[2], 1e-12);
        assertEquals((1 - ctcvr1) * (1 + ctcvr1), fnw[3], 1e-12);
        double[] defer = o.withWeights(Objective.Weights.DEFER).fakeNegativeWeights(logits, b);
        assertEquals(2, defer[0], 1e-12);
        assertEquals(2, defer[1], 1e-12);
        assertEquals((1 - c1) / (1 - c1 / 2), defer[2], 1e-12);
        assertEquals((1 - ctcvr1) / (1 - ctcvr1 / 2), defer[3], 1e-12);
    }

    /**
     * ES-DFM: the conversion's delay heads weight the CTCVR loss (positive 1 + f_dp, negative (1 +
     * f_dp) f_rn); the click has no heads here, so CTR rows weigh 1, as do the heads' own rows.
     */
    @Test
    void esDfmWeighsTheEventsTasksByItsDelayHeads() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of()).withDelayHeads(TaskSpec.CONVERSION);
        assertEquals(List.of("ctr", "cvr", "conversion_delayed", "conversion_real_negative"), spec.taskNames());
        EncodedExample e = TestSpecs.examples(spec, 1, 1).get(0);
        Batch b = Batch.of(List.of(
                new EncodedExample(e.sparseIds(), e.dense(), new float[] {1, 1, 1, 0}),
                new EncodedExample(e.sparseIds(), e.dense(), new float[] {0, 0, Float.NaN, Float.NaN})));
        double[] logits = {0.4, -1.0, -2.0, 1.5, -0.3, 0.2, -0.7, 0.9};
        double[] w = spec.objective().withWeights(Objective.Weights.ES_DFM).fakeNegativeWeights(logits, b);
        assertEquals(1, w[0], 1e-12, "ctr: no delay heads for the click");
        assertEquals(1 + Objective.sigmoid(-2.0), w[1], 1e-12, "a positive: 1 + f_dp");
        assertEquals(1, w[2], 1e-12);
        assertEquals(1, w[3], 1e-12);
        assertEquals(1, w[4], 1e-12);
        assertEquals((1 + Objective.sigmoid(-0.7)) * Objective.sigmoid(0.9), w[5], 1e-12, "a negative");
    }

    /**
     * DEFER at a window above 0: a task's delayed head f_dp (capped at p) sets the share of its
     * positives that came after the window: a positive p / (p - f_dp / 2), a negative (1 - p) / (1 -
     * p + f_dp / 2); the click has no heads here, so CTR rows weigh as at a window of 0.
     */
    @Test
    void deferWeighsByTheShareOfDelayedPositives() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of()).withDelayHeads(TaskSpec.CONVERSION);
        EncodedExample e = TestSpecs.examples(spec, 1, 1).get(0);
        Batch b = Batch.of(List.of(
                new EncodedExample(e.sparseIds(), e.dense(), new float[] {1, 1, 1, 0}),
                new EncodedExample(e.sparseIds(), e.dense(), new float[] {0, 0, Float.NaN, Float.NaN}),
                new EncodedExample(e.sparseIds(), e.dense(), new float[] {1, 1, 0, Float.NaN})));
        // Row 2's delayed head says more than its CTCVR prediction: capped, as at a window of 0.
        double[] logits = {0.4, -1.0, -4.0, 1.5, -0.3, 0.2, -3.5, 0.9, 0.1, -0.5, 3.0, 0.0};
        double[] w = spec.objective().withWeights(Objective.Weights.DEFER).fakeNegativeWeights(logits, b);
        double c0 = Objective.sigmoid(0.4);
        double p0 = c0 * Objective.sigmoid(-1.0);
        double p1 = Objective.sigmoid(-0.3) * Objective.sigmoid(0.2);
        double dp0 = Objective.sigmoid(-4.0);
        double dp1 = Objective.sigmoid(-3.5);
        assertEquals(2, w[0], 1e-12, "ctr: no delay heads for the click, every positive delayed");
        assertEquals(p0 / (p0 - dp0 / 2), w[1], 1e-12, "a positive");
        assertEquals((1 - Objective.sigmoid(-0.3)) / (1 - Objective.sigmoid(-0.3) / 2), w[4], 1e-12);
        assertEquals((1 - p1) / (1 - p1 + dp1 / 2), w[5], 1e-12, "a negative");
        assertEquals(2, w[9], 1e-12, "f_dp above p counts as p");
        assertEquals(1, w[2], 1e-12, "the heads' own rows weigh 1");
        assertEquals(1, w[3], 1e-12);
        // With f_dp near 0 (every positive within the window) a positive weighs 1, as without delay.
        assertEquals(1, w[1], 0.1);
    }

    /** What the join's emissions teach the delay heads; other tasks learn nothing from a closing one. */
    @Test
    void delayHeadsLearnFromTheirOwnLabelsOnly() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of()).withDelayHeads(TaskSpec.CONVERSION);
        ExampleEncoder enc = new ExampleEncoder(spec);
        org.mmoestream.event.LabeledExample closed = new org.mmoestream.event.LabeledExample();
        closed.kind = org.mmoestream.event.LabeledExample.Kind.CLOSED;
        float[] l = enc.labels(0, 0, Double.NaN, closed.clickNews(), closed.conversionNews(), closed.delayLabels());
        assertArrayEquals(new float[] {Float.NaN, Float.NaN, 0, 1}, l);
        // Final labels (join.feedback: wait, or a file) never train the heads.
        assertArrayEquals(new float[] {1, 1, Float.NaN, Float.NaN}, enc.labels(1, 1));
    }
}
