package org.mmoestream.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.mmoestream.simulate.DriftingSimulator;
import org.mmoestream.simulate.DriftingSimulator.Impression;

/** The ideal learner of delayed conversions: the prior without evidence, and the delay's correction. */
class DelayedIdealTest {
    private static final long START = 1_767_225_600_000L;
    private static final long HOUR = DriftingSimulator.HOUR;
    private static final double SD = 0.8;
    /** The conversion logit of every impression here beyond its item's own propensity. */
    private static final double REST = -1;

    private final DriftingSimulator sim = new DriftingSimulator(7, 10, 10, START, 3, 0, SD);
    private final double windowShare =
            -Math.expm1(-(double) FeedbackBench.CONVERSION_WINDOW / DriftingSimulator.MEAN_CONVERSION_DELAY);

    @Test
    void anItemWithoutClicksIsScoredAtThePriorMean() {
        long scoredFrom = START + 2 * HOUR;
        Impression[] imps = {impression(scoredFrom + 10, 0, -1, -1)};
        double p = new DelayedIdeal(sim, SD).predict(imps, scoredFrom)[0];
        // The prior mean of sigmoid(REST + b), b ~ N(0, SD), by a fine sum over +-8 SD.
        double sum = 0;
        double weights = 0;
        for (int i = -8000; i <= 8000; i++) {
            double b = SD * i / 1000.0;
            double w = Math.exp(-b * b / (2 * SD * SD));
            sum += w / (1 + Math.exp(-(REST + b)));
            weights += w;
        }
        assertEquals(sum / weights * windowShare, p, 1e-4);
    }

    @Test
    void conversionsCountOnceTheyHaveArrived() {
        // 200 clicks of item 0 in the first hour, each converting 2 h after its click.
        List<Impression> imps = new ArrayList<>();
        for (int k = 0; k < 200; k++) {
            imps.add(impression(START + k * 1000L, 0, 60_000, 2 * HOUR));
        }
        long scoredFrom = START + HOUR;
        imps.add(impression(scoredFrom + 10, 0, -1, -1));
        imps.add(impression(scoredFrom + 3 * HOUR, 0, -1, -1));
        imps.add(impression(scoredFrom + 3 * HOUR + 10, 1, -1, -1));
        double[] p = new DelayedIdeal(sim, SD).predict(imps.toArray(new Impression[0]), scoredFrom);
        double prior = p[202];
        // In hour 1 none has converted yet, about an hour after its click: below the prior (of the
        // 12% of conversions that come within an hour, none has).
        assertTrue(p[200] < prior, p[200] + " against the prior's " + prior);
        // From hour 3 every one has: the item converts far above the prior.
        assertTrue(p[201] > 0.8 * windowShare, p[201] + " against the prior's " + prior);
    }

    @Test
    void anOldClickWithoutConversionWeighsMoreThanANewOne() {
        List<Impression> imps = new ArrayList<>();
        // Item 0: 50 clicks 23 h before the scored hour; item 1: 50 clicks in the hour before it.
        long scoredFrom = START + 24 * HOUR;
        for (int k = 0; k < 50; k++) {
            imps.add(impression(START + k * 1000L, 0, 60_000, -1));
        }
        for (int k = 0; k < 50; k++) {
            imps.add(impression(scoredFrom - HOUR + k * 1000L, 1, 60_000, -1));
        }
        imps.add(impression(scoredFrom + 10, 0, -1, -1));
        imps.add(impression(scoredFrom + 20, 1, -1, -1));
        imps.add(impression(scoredFrom + 30, 2, -1, -1));
        double[] p = new DelayedIdeal(sim, SD).predict(imps.toArray(new Impression[0]), scoredFrom);
        double old = p[100];
        double recent = p[101];
        double prior = p[102];
        assertTrue(old < recent && recent < prior, old + ", " + recent + ", prior " + prior);
    }

    /**
     * A learner that forgets weighs an item's conversions of two days ago less: its prediction lies
     * between the prior's and that of the learner that never forgets, nearer the prior the shorter
     * its memory; with a memory far longer than the days it predicts as the one that never forgets.
     */
    @Test
    void aLearnerThatForgetsWeighsOldConversionsLess() {
        List<Impression> imps = new ArrayList<>();
        // 100 clicks of item 0 in the first hour, each converting an hour after its click.
        for (int k = 0; k < 100; k++) {
            imps.add(impression(START + k * 1000L, 0, 60_000, HOUR));
        }
        long scoredFrom = START + 48 * HOUR;
        imps.add(impression(scoredFrom + 10, 0, -1, -1));
        imps.add(impression(scoredFrom + 20, 1, -1, -1));
        Impression[] all = imps.toArray(new Impression[0]);
        double never = new DelayedIdeal(sim, SD).predict(all, scoredFrom)[100];
        double prior = new DelayedIdeal(sim, SD).predict(all, scoredFrom)[101];
        double day = new DelayedIdeal(sim, SD, 24 * HOUR).predict(all, scoredFrom)[100];
        double hours = new DelayedIdeal(sim, SD, 6 * HOUR).predict(all, scoredFrom)[100];
        double years = new DelayedIdeal(sim, SD, 100_000 * HOUR).predict(all, scoredFrom)[100];
        assertTrue(prior < hours && hours < day && day < never, prior + " < " + hours + " < " + day + " < " + never);
        assertEquals(never, years, 1e-3 * never);
    }

    @Test
    void aLearnerWithoutMemoryIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new DelayedIdeal(sim, SD, 0));
    }

    @Test
    void itemsThatAllConvertAlikeAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new DelayedIdeal(sim, 0));
    }

    /** An impression of {@code item}, clicked {@code clickDelay} after it, converted {@code conversionDelay} later. */
    private Impression impression(long ts, int item, long clickDelay, long conversionDelay) {
        double pv = 1 / (1 + Math.exp(-(REST + sim.itemCvrBias(item))));
        long clickTs = clickDelay < 0 ? -1 : ts + clickDelay;
        long conversionTs = clickDelay < 0 || conversionDelay < 0 ? -1 : clickTs + conversionDelay;
        return Impression.bare(0, ts, 0.1, pv, clickTs, conversionTs, 0, item);
    }
}
