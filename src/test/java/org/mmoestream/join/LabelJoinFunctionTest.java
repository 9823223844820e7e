package org.mmoestream.join;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.mmoestream.event.Event;
import org.mmoestream.event.LabeledExample;

/**
 * The label join in an operator harness: each scenario checks the emitted examples, and the
 * number of state entries and event-time timers afterwards (zero once every join is final and its
 * dedup retention has passed). Windows are short: click 100 ms, conversion 1,000 ms, orphan wait
 * 50 ms, dedup retention 20 ms.
 */
class LabelJoinFunctionTest {
    private static final long T = 1_700_000_000_000L;
    private LabelJoinFunction fn;
    private KeyedOneInputStreamOperatorTestHarness<String, Event, LabeledExample> h;

    @BeforeEach
    void open() throws Exception {
        fn = new LabelJoinFunction(new AttributionPolicy(100, 1_000, 50, 20, true));
        h = ProcessFunctionTestHarnesses.forKeyedProcessFunction(fn, e -> e.requestId, Types.STRING);
    }

    @AfterEach
    void close() throws Exception {
        h.close();
    }

    private void send(Event e) throws Exception {
        h.processElement(e, e.ts);
    }

    private static Event imp(String id, long ts) {
        return Event.impression(id, ts, "m", "{\"u\":\"1\"}");
    }

    private List<LabeledExample> out() {
        return h.extractOutputValues();
    }

    private void assertExample(LabeledExample e, String id, int click, int conversion) {
        assertEquals(id, e.requestId);
        assertEquals(click, e.click, "click of " + id);
        assertEquals(conversion, e.conversion, "conversion of " + id);
        assertEquals("m", e.model);
        assertEquals("{\"u\":\"1\"}", e.features);
    }

    private void assertEmpty() {
        assertEquals(0, h.numKeyedStateEntries(), "state entries");
        assertEquals(0, h.numEventTimeTimers(), "timers");
    }

    @Test
    void impressionThenClickThenConversionEmitsAtOnce() throws Exception {
        send(imp("a", T));
        send(Event.click("a", T + 10, "c1"));
        assertEquals(1, h.numKeyedStateEntries());
        assertEquals(1, h.numEventTimeTimers());
        send(Event.conversion("a", T + 500, 9.5));
        assertEquals(1, out().size(), "emitted on the conversion, before any watermark");
        assertExample(out().get(0), "a", 1, 1);
        assertEquals(T + 10, out().get(0).clickTs);
        assertEquals(9.5, out().get(0).conversionValue);
        assertEquals(T + 500, out().get(0).finalAt, "final at the conversion");
        h.processWatermark(T + 520);
        assertEmpty();
    }

    @Test
    void conversionAndClickInReverseOrderBeforeTheImpression() throws Exception {
        send(Event.conversion("b", T + 300, Double.NaN));
        send(Event.click("b", T + 50, null));
        assertEquals(1, h.numEventTimeTimers(), "one timer: the orphan wait");
        send(imp("b", T));
        assertEquals(1, out().size());
        assertExample(out().get(0), "b", 1, 1);
        assertEquals(T + 300, out().get(0).finalAt, "its labels were there at the conversion");
        h.processWatermark(T + 10_000);
        assertEquals(1, out().size());
        assertEquals(0, fn.counters().orphans.getCount());
        assertEmpty();
    }

    @Test
    void noClickEmitsANegativeAtImpressionPlusClickWindow() throws Exception {
        send(imp("c", T));
        h.processWatermark(T + 99);
        assertEquals(0, out().size());
        h.processWatermark(T + 100);
        assertEquals(1, out().size());
        assertExample(out().get(0), "c", 0, 0);
        assertEquals(T + 100, out().get(0).finalAt, "final when the click window closed");
        assertEquals(1, h.numKeyedStateEntries(), "remembered for dedup");
        h.processWatermark(T + 120);
        assertEmpty();
    }

    @Test
    void clickWithoutConversionEmitsAtClickPlusConversionWindow() throws Exception {
        send(imp("d", T));
        send(Event.click("d", T + 40, null));
        h.processWatermark(T + 1_039);
        assertEquals(0, out().size());
        h.processWatermark(T + 1_040);
        assertEquals(1, out().size());
        assertExample(out().get(0), "d", 1, 0);
        assertEquals(T + 1_040, out().get(0).finalAt, "final when the conversion window closed");
        h.processWatermark(T + 1_060);
        assertEmpty();
    }

    @Test
    void duplicatesAreIgnoredAndCounted() throws Exception {
        send(imp("e", T));
        send(imp("e", T));
        send(Event.click("e", T + 5, "c"));
        send(Event.click("e", T + 5, "c"));
        send(Event.conversion("e", T + 6, 1));
        send(Event.conversion("e", T + 6, 1));
        send(imp("e", T));
        assertEquals(1, out().size());
        assertExample(out().get(0), "e", 1, 1);
        assertEquals(4, fn.counters().duplicates.getCount());
        h.processWatermark(T + 100_000);
        assertEquals(1, out().size());
        assertEmpty();
    }

    @Test
    void conversionAfterItsWindowDoesNotCount() throws Exception {
        send(imp("f", T));
        send(Event.click("f", T + 10, null));
        send(Event.conversion("f", T + 10 + 1_001, 1));
        assertEquals(0, out().size());
        h.processWatermark(T + 1_010);
        assertEquals(1, out().size());
        assertExample(out().get(0), "f", 1, 0);
        assertEquals(1, fn.counters().conversionsOutsideWindow.getCount());
        // A conversion arriving after the example was final is counted, not joined.
        send(imp("g", T));
        send(Event.click("g", T + 10, null));
        h.processWatermark(T + 1_010);
        send(Event.conversion("g", T + 1_015, 1));
        assertEquals(2, out().size());
        assertEquals(1, fn.counters().afterFinal.getCount());
        h.processWatermark(T + 2_000);
        assertEmpty();
    }

    @Test
    void orphanClickIsCountedAndCleared() throws Exception {
        send(Event.click("h", T, null));
        assertEquals(1, h.numKeyedStateEntries());
        assertEquals(1, h.numEventTimeTimers());
        h.processWatermark(T + 50);
        assertEquals(0, out().size());
        assertEquals(1, fn.counters().orphans.getCount());
        assertEmpty();
    }

    @Test
    void conversionWithoutClickIsDroppedAndCounted() throws Exception {
        send(imp("i", T));
        send(Event.conversion("i", T + 30, 1));
        h.processWatermark(T + 200);
        assertEquals(1, out().size());
        assertExample(out().get(0), "i", 0, 0);
        assertEquals(1, fn.counters().conversionsWithoutClick.getCount());
        assertEmpty();
    }

    @Test
    void manyRequestsKeepOneStateAndOneTimerEach() throws Exception {
        for (int i = 0; i < 50; i++) {
            send(imp("k" + i, T + i));
            if (i % 2 == 0) {
                send(Event.click("k" + i, T + i + 1, null));
            }
        }
        assertEquals(50, h.numKeyedStateEntries());
        assertEquals(50, h.numEventTimeTimers());
        h.processWatermark(T + 5_000);
        assertEquals(50, out().size());
        assertEquals(25, out().stream().mapToInt(e -> e.click).sum());
        assertEmpty();
    }
}
