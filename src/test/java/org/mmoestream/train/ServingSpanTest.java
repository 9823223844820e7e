package org.mmoestream.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.mmoestream.model.optim.OptimizerConfig;

class ServingSpanTest {
    private static final long T0 = 1_700_000_000_000L;

    @Test
    void spansTheStepsTimesTheEventTimePerStep() {
        ServingSpan s = new ServingSpan(3_600);
        s.record(0, Long.MIN_VALUE);
        s.record(1, T0);
        assertTrue(Double.isNaN(s.hours()), "one step measures nothing");
        for (int i = 2; i <= 500; i++) {
            // A second of event time per step: 3,600 steps span an hour.
            s.record(i, T0 + (i - 1) * 1_000L);
        }
        assertEquals(1.0, s.hours(), 1e-9);
        // Calls without a step (a pass that only measured) leave it as it is.
        s.record(500, T0 + 10_000_000L);
        assertEquals(1.0, s.hours(), 1e-9);
    }

    @Test
    void followsTheTrafficOverAboutTheLastThousandSteps() {
        ServingSpan s = new ServingSpan(4_000);
        long t = T0;
        long step = 0;
        s.record(step, t);
        for (int i = 0; i < 2_000; i++) {
            s.record(++step, t += 2_000);
        }
        assertEquals(4_000 * 2_000 / 3.6e6, s.hours(), 1e-9);
        // The traffic falls twentyfold: a step now takes 40 s of event time.
        for (int i = 0; i < 5_000; i++) {
            s.record(++step, t += 40_000);
        }
        assertEquals(4_000 * 40_000 / 3.6e6, s.hours(), 0.01 * 4_000 * 40_000 / 3.6e6);
        // Several steps between two calls: the event time is shared among them.
        s.record(step += 10, t += 400_000);
        assertEquals(4_000 * 40_000 / 3.6e6, s.hours(), 0.01 * 4_000 * 40_000 / 3.6e6);
    }

    @Test
    void warnsOnceWhenTheAverageSpansMoreThanADay() {
        ServingSpan s = new ServingSpan(4_000);
        long t = T0;
        s.record(0, t);
        for (int i = 1; i <= 999; i++) {
            s.record(i, t += 60_000);
        }
        assertNull(s.warning("m1"), "not before a thousand steps are measured");
        s.record(1_000, t += 60_000);
        // 4,000 steps of a minute each: 66.7 h; 180 steps span 3 h.
        String w = s.warning("m1");
        assertTrue(w != null && w.contains("spans 66.7 h") && w.contains("about 180 steps would span 3 h"), w);
        assertNull(s.warning("m1"), "once");
    }

    @Test
    void staysQuietWithinADayAndWithoutAnAverage() {
        ServingSpan busy = new ServingSpan(4_000);
        ServingSpan none = new ServingSpan(0);
        long t = T0;
        for (int i = 0; i <= 2_000; i++) {
            busy.record(i, t);
            none.record(i, t);
            t += 2_500;
        }
        assertEquals(4_000 * 2_500 / 3.6e6, busy.hours(), 1e-9);
        assertNull(busy.warning("m1"));
        assertTrue(Double.isNaN(none.hours()));
        assertNull(none.warning("m1"));
    }

    @Test
    void anAverageSizedInEventTimeSpansItsHoursAtAnyTraffic() {
        OptimizerConfig adagrad = OptimizerConfig.defaults(OptimizerConfig.Kind.ADAGRAD);
        ServingSpan hours = ServingSpan.of(adagrad.withServingAverageHours(3));
        long t = T0;
        for (int i = 0; i <= 2_000; i++) {
            hours.record(i, t);
            t += 60_000;
        }
        assertEquals(3, hours.hours());
        assertNull(hours.warning("m1"), "no warning: it spans what the spec says");
        assertEquals(4_000 * 2_500 / 3.6e6, spanOf(ServingSpan.of(adagrad.withServingAverage(4_000))), 1e-9);
        assertTrue(Double.isNaN(ServingSpan.of(adagrad).hours()));
    }

    private static double spanOf(ServingSpan s) {
        long t = T0;
        for (int i = 0; i <= 2_000; i++) {
            s.record(i, t);
            t += 2_500;
        }
        return s.hours();
    }
}
