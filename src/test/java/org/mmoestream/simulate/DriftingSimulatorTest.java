package org.mmoestream.simulate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The simulator's hidden probabilities within the attribution windows are what its events do: over
 * a simulated day the expected clicks within 30 minutes and conversions within 24 hours of the click
 * match the counted ones (the bench's {@code truth} reference serves them as predictions).
 */
class DriftingSimulatorTest {
    @Test
    void hiddenProbabilitiesWithinTheWindowsMatchTheEvents() {
        long start = 1_767_225_600_000L;
        long clickWindow = 30 * DriftingSimulator.MINUTE;
        long conversionWindow = DriftingSimulator.DAY;
        DriftingSimulator sim = new DriftingSimulator(3, 20_000, 20_000, start, 1);
        int n = 200_000;
        double expectedClicks = 0;
        double expectedConversions = 0;
        int clicks = 0;
        int conversions = 0;
        for (int k = 0; k < n; k++) {
            DriftingSimulator.Impression im = sim.next(k, start + (long) ((double) k / n * DriftingSimulator.DAY));
            double click = DriftingSimulator.clickedWithin(im, clickWindow);
            expectedClicks += click;
            boolean clicked = im.clickTs() >= 0 && im.clickTs() - im.ts() <= clickWindow;
            if (clicked) {
                clicks++;
                expectedConversions += DriftingSimulator.convertedWithin(im, conversionWindow);
                if (im.conversionTs() >= 0 && im.conversionTs() - im.clickTs() <= conversionWindow) {
                    conversions++;
                }
            }
        }
        // About 42,000 clicks and 10,000 conversions: their counts' noise is 0.5% and 1%; leaving out
        // the conversions beyond the window (5%) would miss by five times that.
        assertEquals(1, clicks / expectedClicks, 0.02, clicks + " clicks, " + expectedClicks + " expected");
        assertEquals(1, conversions / expectedConversions, 0.025, conversions + " conversions, " + expectedConversions);
    }

    /** The feature {@code item_age} is the item's whole hours since launch, capped; most items shown are new. */
    /**
     * Without drift an item's conversion propensity does not move with time: one user and one item,
     * at the same price, seven hours apart; with the default drift it does.
     */
    @Test
    void withoutDriftAnItemsConversionPropensityStaysAsItLaunched() {
        long start = 1_767_225_600_000L;
        for (double drift : new double[] {0, DriftingSimulator.DRIFT}) {
            // The same seed draws the same user, item, device and price for the first impression.
            DriftingSimulator.Impression early = new DriftingSimulator(5, 1, 1, start, 2, drift).next(0, start);
            DriftingSimulator.Impression late =
                    new DriftingSimulator(5, 1, 1, start, 2, drift).next(0, start + 7 * DriftingSimulator.HOUR);
            assertEquals(
                    early.featuresJson().replaceAll(",\"item_age\":\\d+", ""),
                    late.featuresJson().replaceAll(",\"item_age\":\\d+", ""));
            if (drift == 0) {
                assertEquals(early.pConversion(), late.pConversion(), 1e-12);
            } else {
                assertTrue(Math.abs(early.pConversion() - late.pConversion()) > 1e-6, "the default drift moves it");
            }
        }
    }

    @Test
    void itemAgeFeatureIsWholeHoursSinceLaunch() {
        long start = 1_767_225_600_000L;
        DriftingSimulator sim = new DriftingSimulator(3, 20_000, 20_000, start, 2);
        int n = 20_000;
        int young = 0;
        for (int k = 0; k < n; k++) {
            DriftingSimulator.Impression im = sim.next(k, start + (long) ((double) k / n * 2 * DriftingSimulator.DAY));
            long hours = Math.min(DriftingSimulator.MAX_AGE_HOURS, im.itemAge() / DriftingSimulator.HOUR);
            assertTrue(im.featuresJson().endsWith(",\"item_age\":" + hours + "}"), im.featuresJson());
            young += im.itemAge() < 8 * DriftingSimulator.HOUR ? 1 : 0;
        }
        assertTrue(young > n / 2, young + " of " + n + " impressions of items under 8 h old");
    }
}
