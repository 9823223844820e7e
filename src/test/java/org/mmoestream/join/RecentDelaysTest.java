package org.mmoestream.join;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class RecentDelaysTest {
    private static final long HOUR = 3_600_000L;

    @Test
    void drawsZeroBeforeAnyDelayAndOnlyTheLastSizeDelaysAfter() {
        RecentDelays d = new RecentDelays();
        assertEquals(0, d.draw(12345));
        for (long i = 0; i < RecentDelays.DEFAULT_SIZE + 10; i++) {
            d.add(i, 1_000_000 + i);
        }
        Set<Long> drawn = new HashSet<>();
        for (long h = 0; h < 100_000; h++) {
            drawn.add(d.draw(h * 0x9E3779B97F4A7C15L));
        }
        assertEquals(RecentDelays.DEFAULT_SIZE, drawn.size(), "every kept delay is drawn");
        assertEquals(10L, drawn.stream().mapToLong(Long::longValue).min().orElseThrow(), "the oldest ten are gone");
    }

    @Test
    void toArrayGivesTheKeptDelaysOldestFirstSoThatRestoringThemDrawsTheSame() {
        RecentDelays d = new RecentDelays();
        for (long i = 0; i < RecentDelays.DEFAULT_SIZE + 3; i++) {
            d.add(i * 7, 1_000_000 + i);
        }
        long[] kept = d.toArray();
        assertEquals(RecentDelays.DEFAULT_SIZE, kept.length);
        assertEquals(21, kept[0]);
        assertEquals((RecentDelays.DEFAULT_SIZE + 2) * 7L, kept[kept.length - 1]);
        RecentDelays restored = new RecentDelays();
        restored.restore(kept, d.start());
        assertArrayEquals(kept, restored.toArray());
        assertEquals(d.start(), restored.start());
        for (long h = 0; h < 1_000; h++) {
            assertEquals(d.draw(h), restored.draw(h), "the same draws after a restore");
        }
    }

    /**
     * A sample of another size keeps that many, its prior is that many quantiles, and a checkpoint of
     * a larger sample restores into a smaller one as its newest delays.
     */
    @Test
    void aSampleKeepsItsSizeAndASmallerOneRestoresTheNewest() {
        RecentDelays big = new RecentDelays(100);
        assertEquals(100, big.size());
        big.prior(8 * HOUR, 24 * HOUR);
        assertEquals(100, big.toArray().length);
        for (long i = 0; i < 150; i++) {
            big.add(30 * HOUR + i, 1_000 * HOUR + i);
        }
        long[] kept = big.toArray();
        assertEquals(100, kept.length);
        assertEquals(30 * HOUR + 50, kept[0], "the oldest fifty and the prior are gone");
        RecentDelays small = new RecentDelays(10);
        small.restore(kept, big.start());
        assertArrayEquals(Arrays.copyOfRange(kept, 90, 100), small.toArray());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new RecentDelays(0));
        assertEquals("a sample of delays keeps 1 to 1048576, not 0", e.getMessage());
    }

    /** The prior's quantiles: an exponential of mean 8 h truncated at 24.5 h. */
    @Test
    void aPriorIsTheQuantilesOfItsTruncatedExponential() {
        RecentDelays d = new RecentDelays();
        d.prior(8 * HOUR, 49 * HOUR / 2);
        long[] kept = decoded(d.toArray());
        assertEquals(RecentDelays.DEFAULT_SIZE, kept.length);
        long[] sorted = kept.clone();
        Arrays.sort(sorted);
        assertArrayEquals(sorted, kept, "in the order of its quantiles");
        assertTrue(kept[0] > 0 && kept[kept.length - 1] <= 49 * HOUR / 2);
        // The median of the truncated exponential: -8 h ln(1 - (1 - e^-24.5/8) / 2), 5.27 h.
        double median = -8 * Math.log1p(-(-Math.expm1(-24.5 / 8)) / 2);
        assertEquals(median, kept[RecentDelays.DEFAULT_SIZE / 2] / (double) HOUR, 0.01);
    }

    /**
     * A join younger than a prior's delay keeps it: its conversions replace the prior's shorter
     * delays only, so the sample's mass beyond the join's age stays the prior's; once the join is
     * older than every kept delay, they go oldest first.
     */
    @Test
    void aYoungJoinReplacesOnlyThePriorsDelaysItCouldHaveSeen() {
        RecentDelays d = new RecentDelays();
        d.prior(8 * HOUR, 24 * HOUR);
        long t0 = 1_767_225_600_000L;
        // Two hours of conversions, twice the sample, each a minute after its impression.
        int n = 2 * RecentDelays.DEFAULT_SIZE;
        long age = (long) (n - 1) * 2 * HOUR / n + 60_000;
        int longPrior =
                (int) Arrays.stream(decoded(d.toArray())).filter(x -> x > age).count();
        for (int i = 0; i < n; i++) {
            d.add(60_000, t0 + (long) i * 2 * HOUR / n + 60_000);
        }
        long[] kept = d.toArray();
        assertEquals(
                longPrior,
                Arrays.stream(kept).filter(x -> x < 0 && -1 - x > age).count(),
                "the prior's longer delays stay");
        assertEquals(
                RecentDelays.DEFAULT_SIZE,
                Arrays.stream(kept).filter(x -> x < 0 || x == 60_000).count(),
                "and the rest is the prior's shorter ones or the conversions seen");
        assertTrue(
                Arrays.stream(kept).filter(x -> x == 60_000).count() > RecentDelays.DEFAULT_SIZE / 5,
                "which replace the prior's shorter ones");
        assertTrue(longPrior > RecentDelays.DEFAULT_SIZE / 2, longPrior + " of the prior's delays over 2 h");
        RecentDelays restored = new RecentDelays();
        restored.restore(kept, d.start());
        for (long h = 0; h < 1_000; h++) {
            assertEquals(d.draw(h), restored.draw(h), "the same draws after a restore");
        }
        // A day and more later every delay kept can have been seen: they go as without a prior.
        for (int i = 0; i < RecentDelays.DEFAULT_SIZE; i++) {
            d.add(3 * HOUR, t0 + 30 * HOUR + i);
            restored.add(3 * HOUR, t0 + 30 * HOUR + i);
        }
        assertTrue(Arrays.stream(d.toArray()).allMatch(x -> x == 3 * HOUR));
        assertArrayEquals(d.toArray(), restored.toArray());
    }

    private static long[] decoded(long[] kept) {
        return Arrays.stream(kept).map(x -> x < 0 ? -1 - x : x).toArray();
    }
}
