package org.mmoestream.join;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class RecentDelaysTest {
    @Test
    void drawsZeroBeforeAnyDelayAndOnlyTheLastSizeDelaysAfter() {
        RecentDelays d = new RecentDelays();
        assertEquals(0, d.draw(12345));
        for (long i = 0; i < RecentDelays.SIZE + 10; i++) {
            d.add(i);
        }
        Set<Long> drawn = new HashSet<>();
        for (long h = 0; h < 100_000; h++) {
            drawn.add(d.draw(h * 0x9E3779B97F4A7C15L));
        }
        assertEquals(RecentDelays.SIZE, drawn.size(), "every kept delay is drawn");
        assertEquals(10L, drawn.stream().mapToLong(Long::longValue).min().orElseThrow(), "the oldest ten are gone");
    }

    @Test
    void toArrayGivesTheKeptDelaysOldestFirstSoThatAddingThemRestores() {
        RecentDelays d = new RecentDelays();
        for (long i = 0; i < RecentDelays.SIZE + 3; i++) {
            d.add(i * 7);
        }
        long[] kept = d.toArray();
        assertEquals(RecentDelays.SIZE, kept.length);
        assertEquals(21, kept[0]);
        assertEquals((RecentDelays.SIZE + 2) * 7L, kept[kept.length - 1]);
        RecentDelays restored = new RecentDelays();
        for (long k : kept) {
            restored.add(k);
        }
        assertArrayEquals(kept, restored.toArray());
        for (long h = 0; h < 1_000; h++) {
            assertEquals(d.draw(h), restored.draw(h), "the same draws after a restore");
        }
    }
}
