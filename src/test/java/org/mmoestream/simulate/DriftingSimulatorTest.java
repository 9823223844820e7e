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

    /** An impression's request id and features, made when asked for, print every field; the price in hundredths. */
    @Test
    void featuresPrintEveryFieldWithThePriceInHundredths() {
        for (int[] c : new int[][] {{5, 0}, {100, 1}, {123_456, 1234}, {2_007, 20}}) {
            DriftingSimulator.Impression im =
                    new DriftingSimulator.Impression(7, 0, 12, 345, 2, c[0], 48, 0.1, 0.2, -1, -1, 0);
            String cents = String.format(java.util.Locale.ROOT, "%02d", c[0] % 100);
            assertEquals(
                    "{\"user\":\"u12\",\"item\":\"i345\",\"device\":\"d2\",\"price\":" + c[1] + "." + cents
                            + ",\"item_age\":48}",
                    im.featuresJson());
            assertEquals("q7", im.requestId());
        }
        assertEquals(
                "{}",
                DriftingSimulator.Impression.bare(3, 0, 0.1, 0.2, -1, -1, 0, 9).featuresJson());
        DriftingSimulator.Impression late = DriftingSimulator.Impression.bare(3, 0, 0.1, 0.2, 10, -1, 0, 9);
        assertEquals(99, late.withConversionTs(99).conversionTs());
        assertEquals(10, late.withConversionTs(99).clickTs());
    }

    /**
     * With no spread of the items' own conversion propensities and no drift, one user's conversion
     * logit less the price's part is the same on every item; with the default spread it is not.
     */
    @Test
    void withoutItemSpreadEveryItemConvertsAlikeForOneUser() {
        long start = 1_767_225_600_000L;
        for (double sd : new double[] {0, DriftingSimulator.ITEM_CVR_SD}) {
            DriftingSimulator sim = new DriftingSimulator(5, 1, 2_000, start, 2, 0, sd);
            double min = Double.MAX_VALUE;
            double max = -Double.MAX_VALUE;
            java.util.Set<String> items = new java.util.HashSet<>();
            for (int n = 0; n < 2_000; n++) {
                DriftingSimulator.Impression im = sim.next(n, start + n * DriftingSimulator.MINUTE);
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"item\":\"(i\\d+)\".*\"price\":([0-9.]+)")
                        .matcher(im.featuresJson());
                assertTrue(m.find(), im.featuresJson());
                items.add(m.group(1));
                double p = im.pConversion();
                double z = Math.log(p / (1 - p)) + 0.3 * Math.log(Double.parseDouble(m.group(2)) / 20);
                min = Math.min(min, z);
                max = Math.max(max, z);
            }
            assertTrue(items.size() > 100, "many items: " + items.size());
            if (sd == 0) {
                assertEquals(min, max, 5e-3, "alike on every item (the price is rounded to cents)");
            } else {
                assertTrue(max - min > 1, "items differ: " + (max - min));
            }
        }
    }

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

    /**
     * An item's own conversion propensity at a time ({@code itemCvrOffset}) is all the drift changes of
     * the hidden conversion logit: without it, the logit is what the same draws give without drift.
     */
    @Test
    void theItemsOffsetIsWhatTheDriftAddsToItsConversionLogit() {
        long start = 1_767_225_600_000L;
        for (int k = 0; k < 20; k++) {
            long ts = start + k * 97 * DriftingSimulator.MINUTE;
            DriftingSimulator drifting = new DriftingSimulator(5, 50, 50, start, 2);
            DriftingSimulator still = new DriftingSimulator(5, 50, 50, start, 2, 0);
            DriftingSimulator.Impression a = drifting.next(0, ts);
            DriftingSimulator.Impression b = still.next(0, ts);
            assertEquals(a.item(), b.item());
            assertEquals(still.itemCvrBias(b.item()), still.itemCvrOffset(b.item(), ts), 0);
            assertEquals(
                    logit(b.pConversion()) - still.itemCvrOffset(b.item(), ts),
                    logit(a.pConversion()) - drifting.itemCvrOffset(a.item(), ts),
                    1e-9);
        }
    }

    private static double logit(double p) {
        return Math.log(p / (1 - p));
    }

    /** The feature {@code item_age} is the item's whole hours since launch, capped; most items shown are new. */
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
