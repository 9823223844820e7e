package org.mmoestream.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.mmoestream.simulate.DriftingSimulator;

/**
 * The arrivals' normalization: 1 before any conversion and for conversions at a steady rate; below 1
 * after an hour of twice the rate, above 1 after an hour of half of it.
 */
class ArrivalNormalizationTest {
    private static final long MINUTE = DriftingSimulator.MINUTE;
    private static final long HOUR = DriftingSimulator.HOUR;

    @Test
    void aSteadyRateWeighsOne() {
        ArrivalNormalization n = new ArrivalNormalization(24 * HOUR);
        assertEquals(1, n.factor(0));
        for (long t = 0; t < 72 * HOUR; t += MINUTE) {
            n.add(t);
        }
        assertEquals(1, n.factor(72 * HOUR), 0.01);
    }

    @Test
    void anHourOfMoreConversionsWeighsThemLess() {
        ArrivalNormalization more = new ArrivalNormalization(24 * HOUR);
        ArrivalNormalization fewer = new ArrivalNormalization(24 * HOUR);
        for (long t = 0; t < 48 * HOUR; t += MINUTE) {
            more.add(t);
            fewer.add(t);
        }
        for (long t = 48 * HOUR; t < 49 * HOUR; t += MINUTE / 2) {
            more.add(t);
        }
        for (long t = 48 * HOUR; t < 49 * HOUR; t += 2 * MINUTE) {
            fewer.add(t);
        }
        double down = more.factor(49 * HOUR);
        double up = fewer.factor(49 * HOUR);
        assertTrue(down > 0.55 && down < 0.8, "twice the rate for an hour: " + down);
        assertTrue(up > 1.25 && up < 1.8, "half the rate for an hour: " + up);
    }

    @Test
    void aLongTimeConstantOfAnHourOrLessIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new ArrivalNormalization(HOUR));
    }
}
