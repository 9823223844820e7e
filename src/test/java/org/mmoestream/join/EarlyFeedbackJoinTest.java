package org.mmoestream.join;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.mmoestream.event.Event;
import org.mmoestream.event.LabeledExample;
import org.mmoestream.event.LabeledExample.Kind;

/**
 * The join with an early feedback mode ({@code fnw}) in an operator harness: an impression is sent
 * when its observation window closes, a later click and conversion once each, nothing when the
 * windows close, and no state or timer is left after the dedup retention. Windows: click 100 ms,
 * conversion 1,000 ms, orphan wait 50 ms, dedup retention 20 ms; observation 10 ms (0 where said).
 */
class EarlyFeedbackJoinTest {
    private static final long T = 1_700_000_000_000L;
    private LabelJoinFunction fn;
    private KeyedOneInputStreamOperatorTestHarness<String, Event, LabeledExample> h;

    private void open(long observation) throws Exception {
        fn = new LabelJoinFunction(new AttributionPolicy(100, 1_000, 50, 20, true, Feedback.FNW, observation));
        h = ProcessFunctionTestHarnesses.forKeyedProcessFunction(fn, e -> e.requestId, Types.STRING);
    }

    @AfterEach
    void close() throws Exception {
        if (h != null) {
            h.close();
        }
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

    private static void assertExample(LabeledExample e, String id, Kind kind, int click, int conversion) {
        assertEquals(id, e.requestId);
        assertEquals(kind, e.kind, "kind of " + e);
        assertEquals(click, e.click, "click of " + e);
        assertEquals(conversion, e.conversion, "conversion of " + e);
        assertEquals("{\"u\":\"1\"}", e.features, "features of " + e);
    }

    private void assertEmpty() {
        assertEquals(0, h.numKeyedStateEntries(), "state entries");
        assertEquals(0, h.numEventTimeTimers(), "timers");
    }

    @Test
    void observedThenLaterClickThenConversion() throws Exception {
        open(10);
        send(imp("a", T));
        h.processWatermark(T + 9);
        assertEquals(0, out().size());
        h.processWatermark(T + 10);
        assertEquals(1, out().size());
        assertExample(out().get(0), "a", Kind.OBSERVED, 0, 0);
        send(Event.click("a", T + 30, null));
        h.processWatermark(T + 29);
        assertEquals(1, out().size(), "the click waits for the watermark to pass it");
        h.processWatermark(T + 30);
        assertEquals(2, out().size(), "and is sent when it does");
        assertExample(out().get(1), "a", Kind.CLICK, 1, 0);
        assertEquals(T + 30, out().get(1).clickTs);
        send(Event.conversion("a", T + 600, 4.0));
        assertEquals(2, out().size());
        h.processWatermark(T + 600);
        assertEquals(3, out().size());
        assertExample(out().get(2), "a", Kind.CONVERSION, 1, 1);
        assertEquals(4.0, out().get(2).conversionValue);
        h.processWatermark(T + 620);
        assertEmpty();
    }

    @Test
    void aClickWithinTheObservationWindowIsPartOfTheObservedExample() throws Exception {
        open(10);
        send(imp("b", T));
        send(Event.click("b", T + 5, null));
        h.processWatermark(T + 10);
        assertEquals(1, out().size());
        assertExample(out().get(0), "b", Kind.OBSERVED, 1, 0);
        h.processWatermark(T + 1_004);
        assertEquals(1, out().size(), "nothing when the conversion window closes");
        assertEquals(1, h.numKeyedStateEntries(), "remembered for dedup");
        h.processWatermark(T + 1_025);
        assertEmpty();
    }

    @Test
    void eventsLaterThanTheWindowButBeforeTheWatermarkFollowTheObservedExample() throws Exception {
        open(10);
        send(imp("c", T));
        send(Event.click("c", T + 40, null));
        send(Event.conversion("c", T + 60, Double.NaN));
        assertEquals(0, out().size(), "the window has not closed in event time");
        h.processWatermark(T + 70);
        assertEquals(3, out().size());
        assertExample(out().get(0), "c", Kind.OBSERVED, 0, 0);
        assertExample(out().get(1), "c", Kind.CLICK, 1, 0);
        assertExample(out().get(2), "c", Kind.CONVERSION, 1, 1);
        h.processWatermark(T + 100);
        assertEmpty();
    }

    /**
     * At an observation window of 0 a click (and its conversion) in the impression's own millisecond
     * still follows the observed negative: fnw's and defer's weights count every positive once as a
     * negative first.
     */
    @Test
    void atAWindowOfZeroAClickAtTheImpressionsMillisecondFollowsTheObservedNegative() throws Exception {
        open(0);
        send(imp("s", T));
        send(Event.click("s", T, null));
        send(Event.conversion("s", T, Double.NaN));
        h.processWatermark(T);
        assertEquals(3, out().size());
        assertExample(out().get(0), "s", Kind.OBSERVED, 0, 0);
        assertExample(out().get(1), "s", Kind.CLICK, 1, 0);
        assertExample(out().get(2), "s", Kind.CONVERSION, 1, 1);
    }

    @Test
    void withoutAClickNothingFollowsTheObservedNegative() throws Exception {
        open(0);
        send(imp("d", T));
        assertEquals(0, out().size(), "observation window 0: sent when the watermark passes the impression");
        h.processWatermark(T - 1);
        assertEquals(0, out().size());
        h.processWatermark(T);
        assertEquals(1, out().size(), "observation window 0: sent when the watermark passes the impression");
        assertExample(out().get(0), "d", Kind.OBSERVED, 0, 0);
        assertEquals(1, h.numKeyedStateEntries(), "kept for a click within the click window");
        h.processWatermark(T + 100);
        assertEquals(1, out().size());
        h.processWatermark(T + 120);
        assertEmpty();
    }

    @Test
    void eachKindIsSentOnceAndLateEventsAreCounted() throws Exception {
        open(0);
        send(imp("e", T));
        send(Event.click("e", T + 20, null));
        send(Event.click("e", T + 21, null));
        send(imp("e", T));
        h.processWatermark(T + 1_020);
        send(Event.conversion("e", T + 1_500, Double.NaN));
        assertEquals(2, out().size());
        assertExample(out().get(0), "e", Kind.OBSERVED, 0, 0);
        assertExample(out().get(1), "e", Kind.CLICK, 1, 0);
        assertEquals(2, fn.counters().duplicates.getCount());
        assertEquals(1, fn.counters().afterFinal.getCount());
        assertEquals(1, fn.counters().emitted[Kind.OBSERVED.ordinal()].getCount());
        assertEquals(1, fn.counters().emitted[Kind.CLICK.ordinal()].getCount());
        assertEquals(0, fn.counters().emitted[Kind.CONVERSION.ordinal()].getCount());
        h.processWatermark(T + 1_040);
        assertEmpty();
    }

    @Test
    void aConversionWithoutAClickIsDroppedAndCounted() throws Exception {
        open(0);
        send(imp("f", T));
        send(Event.conversion("f", T + 30, Double.NaN));
        h.processWatermark(T + 100);
        assertEquals(1, out().size());
        assertEquals(1, fn.counters().conversionsWithoutClick.getCount());
        h.processWatermark(T + 120);
        assertEmpty();
    }

    /** The join on the RocksDB backend, opened from {@code snapshot} when it is not null. */
    private KeyedOneInputStreamOperatorTestHarness<String, Event, LabeledExample> rocksDb(OperatorSubtaskState snapshot)
            throws Exception {
        return rocksDb(snapshot, Feedback.FNW, 10);
    }

    private KeyedOneInputStreamOperatorTestHarness<String, Event, LabeledExample> rocksDb(
            OperatorSubtaskState snapshot, Feedback feedback, long observation) throws Exception {
        return rocksDb(snapshot, new AttributionPolicy(100, 1_000, 50, 20, true, feedback, observation));
    }

    private KeyedOneInputStreamOperatorTestHarness<String, Event, LabeledExample> rocksDb(
            OperatorSubtaskState snapshot, AttributionPolicy policy) throws Exception {
        fn = new LabelJoinFunction(policy);
        var harness = new KeyedOneInputStreamOperatorTestHarness<String, Event, LabeledExample>(
                new KeyedProcessOperator<>(fn), e -> e.requestId, Types.STRING);
        harness.setStateBackend(new EmbeddedRocksDBStateBackend());
        if (snapshot != null) {
            harness.initializeState(snapshot);
        }
        harness.open();
        return harness;
    }

    @Test
    void afterARestoreLateClicksAndConversionsAreSentOnceEach() throws Exception {
        h = rocksDb(null);
        send(imp("g", T));
        send(imp("h", T));
        send(Event.click("h", T + 5, null));
        h.processWatermark(T + 10);
        send(Event.click("g", T + 30, null));
        h.processWatermark(T + 30);
        assertEquals(3, out().size(), "g observed and clicked, h observed with its click");
        OperatorSubtaskState snapshot = h.snapshot(1, 1);
        h.close();

        // Restored (as after a failure): the events after the checkpoint come again, with new ones.
        h = rocksDb(snapshot);
        send(Event.click("g", T + 30, null));
        send(Event.click("h", T + 5, null));
        send(Event.conversion("g", T + 400, Double.NaN));
        send(Event.conversion("h", T + 500, Double.NaN));
        send(Event.conversion("g", T + 400, Double.NaN));
        h.processWatermark(T + 500);
        List<LabeledExample> after = out();
        assertEquals(2, after.size(), "one conversion each, nothing sent again: " + after);
        assertExample(after.get(0), "g", Kind.CONVERSION, 1, 1);
        assertExample(after.get(1), "h", Kind.CONVERSION, 1, 1);
        assertEquals(3, fn.counters().duplicates.getCount());
        h.processWatermark(T + 600);
        assertEquals(0, h.numEventTimeTimers(), "timers (RocksDB does not count its state entries)");
    }

    /**
     * A job catching up a backlog may read the clicks and conversions topics ahead of the impressions
     * (in event time): the positives still leave in event-time order with the impressions' own
     * emissions, as the watermark (the slowest topic's) passes them, not when they are read.
     */
    @Test
    void positivesReadAheadOfTheWatermarkLeaveInEventTimeOrder() throws Exception {
        openDefer();
        send(imp("a", T));
        h.processWatermark(T);
        send(Event.click("a", T + 10, null));
        send(Event.conversion("a", T + 80, Double.NaN));
        send(imp("b", T + 50));
        assertEquals(1, out().size(), "a observed; its click and conversion wait: " + out());
        h.processWatermark(T + 50);
        h.processWatermark(T + 80);
        List<LabeledExample> sent = out();
        assertEquals(4, sent.size(), sent.toString());
        assertExample(sent.get(1), "a", Kind.CLICK, 1, 0);
        assertExample(sent.get(2), "b", Kind.OBSERVED, 0, 0);
        assertExample(sent.get(3), "a", Kind.CONVERSION, 1, 1);
    }

    /**
     * A click read after the watermark has passed it (late, within its window) leaves at the next
     * watermark, not before; at the end of a bounded input (the watermark at its maximum) every
     * pending positive of every request leaves in event-time order, across a RocksDB restore, and no
     * timer is left.
     */
    @Test
    void lateAndPendingPositivesLeaveAtTheNextWatermarkInEventTimeOrder() throws Exception {
        h = rocksDb(null, Feedback.DEFER, 0);
        send(imp("a", T));
        send(imp("b", T));
        h.processWatermark(T + 50);
        send(Event.click("a", T + 40, null)); // late: the watermark is past it
        assertEquals(2, out().size(), "a and b observed; a's late click waits for a watermark: " + out());
        h.processWatermark(T + 51);
        assertEquals(3, out().size(), out().toString());
        assertExample(out().get(2), "a", Kind.CLICK, 1, 0);
        send(Event.click("b", T + 60, null));
        send(Event.conversion("b", T + 200, Double.NaN));
        send(Event.conversion("a", T + 150, Double.NaN));
        OperatorSubtaskState snapshot = h.snapshot(1, 1);
        h.close();
        h = rocksDb(snapshot, Feedback.DEFER, 0);
        h.processWatermark(Long.MAX_VALUE);
        List<LabeledExample> end = out();
        assertEquals(3, end.size(), end.toString());
        assertExample(end.get(0), "b", Kind.CLICK, 1, 0);
        assertExample(end.get(1), "a", Kind.CONVERSION, 1, 1);
        assertExample(end.get(2), "b", Kind.CONVERSION, 1, 1);
        assertEquals(0, h.numEventTimeTimers(), "timers (every state has one until it is cleared)");
    }

    private void openDefer() {
        fn = new LabelJoinFunction(new AttributionPolicy(100, 1_000, 50, 20, true, Feedback.DEFER, 0));
        try {
            h = ProcessFunctionTestHarnesses.forKeyedProcessFunction(fn, e -> e.requestId, Types.STRING);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * DEFER: every impression a second time with its final labels: a click and a conversion as with
     * FNW, and, when the windows close without a conversion, a real negative (after a click, of the
     * conversion only).
     */
    @Test
    void deferSendsARealNegativeWhenTheWindowsCloseWithoutAPositive() throws Exception {
        openDefer();
        send(imp("n", T));
        send(imp("k", T));
        send(imp("v", T));
        h.processWatermark(T);
        send(Event.click("k", T + 20, null));
        send(Event.click("v", T + 30, null));
        send(Event.conversion("v", T + 300, Double.NaN));
        assertEquals(3, out().size(), "three observed; the positives wait for the watermark: " + out());
        h.processWatermark(T + 30);
        assertEquals(5, out().size(), "two clicks: " + out());
        h.processWatermark(T + 100);
        assertEquals(6, out().size(), "n's click window closed");
        LabeledExample n = out().get(5);
        assertExample(n, "n", Kind.NEGATIVE, 0, 0);
        assertEquals(true, n.clickNews() && n.conversionNews(), "a negative of every task");
        h.processWatermark(T + 300);
        assertEquals(7, out().size(), "v's conversion");
        assertExample(out().get(6), "v", Kind.CONVERSION, 1, 1);
        h.processWatermark(T + 1_020);
        assertEquals(8, out().size(), "k's conversion window closed; v converted: nothing more for it");
        LabeledExample k = out().get(7);
        assertExample(k, "k", Kind.NEGATIVE, 1, 0);
        assertEquals(false, k.clickNews(), "after a click, a negative of the conversion only");
        assertEquals(true, k.conversionNews());
        h.processWatermark(T + 1_100);
        assertEmpty();
    }

    /** DEFER across a restore: the real negatives come once, from the restored state and timers. */
    @Test
    void deferAfterARestoreSendsEachRealNegativeOnce() throws Exception {
        h = rocksDb(null, Feedback.DEFER, 0);
        send(imp("p", T));
        send(imp("q", T));
        h.processWatermark(T);
        send(Event.click("q", T + 10, null));
        h.processWatermark(T + 10);
        assertEquals(3, out().size(), "p and q observed, q's click");
        OperatorSubtaskState snapshot = h.snapshot(1, 1);
        h.close();
        h = rocksDb(snapshot, Feedback.DEFER, 0);
        send(imp("p", T));
        send(Event.click("q", T + 10, null));
        h.processWatermark(T + 100);
        h.processWatermark(T + 1_015);
        List<LabeledExample> after = out();
        assertEquals(2, after.size(), "a real negative each, nothing sent again: " + after);
        assertExample(after.get(0), "p", Kind.NEGATIVE, 0, 0);
        assertExample(after.get(1), "q", Kind.NEGATIVE, 1, 0);
        h.processWatermark(T + 1_100);
        assertEquals(0, h.numEventTimeTimers(), "timers");
    }

    /**
     * ES-DFM at an observation window of 10 ms: FNW's emissions, and, when the windows close without
     * a conversion, a closing emission that trains the delay heads only; each impression has one
     * "delayed" label per event and, when the event had not come by the end of the window, one "real
     * negative" label.
     */
    @Test
    void esDfmClosesEachImpressionForItsDelayHeads() throws Exception {
        h = rocksDb(null, Feedback.ES_DFM, 10);
        send(imp("n", T)); // never clicked
        send(imp("w", T)); // clicked within the window, converted later
        send(imp("l", T)); // clicked after the window, never converted
        send(Event.click("w", T + 5, null));
        h.processWatermark(T + 10);
        send(Event.click("l", T + 40, null));
        send(Event.conversion("w", T + 90, Double.NaN));
        h.processWatermark(T + 90);
        List<LabeledExample> sent = out();
        assertEquals(5, sent.size(), "three observed, l's click, w's conversion: " + sent);
        float nan = Float.NaN;
        LabeledExample w = sent.stream()
                .filter(e -> e.requestId.equals("w") && e.kind == Kind.OBSERVED)
                .findFirst()
                .orElseThrow();
        assertArrayEquals(new float[] {0, nan, nan, nan}, w.delayLabels(), "w's click came within the window");
        LabeledExample lClick = sent.get(3);
        assertExample(lClick, "l", Kind.CLICK, 1, 0);
        assertArrayEquals(new float[] {1, 0, nan, nan}, lClick.delayLabels(), "a delayed click");
        LabeledExample wConversion = sent.get(4);
        assertExample(wConversion, "w", Kind.CONVERSION, 1, 1);
        assertArrayEquals(new float[] {nan, nan, 1, 0}, wConversion.delayLabels(), "a delayed conversion");
        // A restore before the windows close: each closing emission comes once, from the restored timers.
        OperatorSubtaskState snapshot = h.snapshot(1, 1);
        h.close();
        h = rocksDb(snapshot, Feedback.ES_DFM, 10);
        h.processWatermark(T + 100);
        h.processWatermark(T + 1_100);
        List<LabeledExample> closed = out();
        assertEquals(2, closed.size(), "n and l closed; w converted: " + closed);
        assertExample(closed.get(0), "n", Kind.CLOSED, 0, 0);
        assertArrayEquals(new float[] {0, 1, 0, 1}, closed.get(0).delayLabels(), "n: real negatives of both");
        assertEquals(false, closed.get(0).clickNews() || closed.get(0).conversionNews(), "no task but the heads");
        assertExample(closed.get(1), "l", Kind.CLOSED, 1, 0);
        assertArrayEquals(
                new float[] {nan, nan, 0, 1}, closed.get(1).delayLabels(), "l: the click's labels were sent already");
        h.processWatermark(T + 1_200);
        assertEquals(0, h.numEventTimeTimers(), "timers");
    }

    /**
     * DEFER at an observation window of 10 ms (the paper's waiting window): every impression is
     * trained twice per event: a positive within the window again at once ({@code REPEAT}), a
     * positive after it as itself, an event that never came as a real negative when the windows
     * close; across a restore each emission comes once.
     */
    @Test
    void deferAtAWindowTrainsEveryImpressionTwicePerEvent() throws Exception {
        h = rocksDb(null, Feedback.DEFER, 10);
        send(imp("n", T)); // never clicked
        send(imp("b", T)); // clicked and converted within the window
        send(imp("w", T)); // clicked within the window, converted after it
        send(imp("k", T)); // clicked within the window, never converted
        send(imp("l", T)); // clicked after the window, never converted
        send(Event.click("b", T + 3, null));
        send(Event.conversion("b", T + 8, Double.NaN));
        send(Event.click("w", T + 5, null));
        send(Event.click("k", T + 5, null));
        h.processWatermark(T + 10);
        List<LabeledExample> first = out();
        assertEquals(8, first.size(), "five observed, three repeated: " + first);
        LabeledExample repeat = first.stream()
                .filter(e -> e.requestId.equals("w") && e.kind == Kind.REPEAT)
                .findFirst()
                .orElseThrow();
        assertExample(repeat, "w", Kind.REPEAT, 1, 0);
        assertEquals(true, repeat.clickNews() && !repeat.conversionNews(), "the click's positive again, only");
        float nan = Float.NaN;
        assertArrayEquals(new float[] {nan, nan, nan, nan}, repeat.delayLabels(), "a copy teaches the heads nothing");
        OperatorSubtaskState snapshot = h.snapshot(1, 1);
        h.close();
        h = rocksDb(snapshot, Feedback.DEFER, 10);
        send(Event.click("w", T + 5, null)); // a duplicate: nothing again
        send(Event.click("l", T + 40, null));
        send(Event.conversion("w", T + 90, Double.NaN));
        h.processWatermark(T + 100);
        h.processWatermark(T + 1_100);
        List<LabeledExample> all = new java.util.ArrayList<>(first);
        all.addAll(out());
        // Per impression and task, the labels of the emissions that bring news of it.
        java.util.Map<String, List<Integer>> news = new java.util.TreeMap<>();
        for (LabeledExample e : all) {
            if (e.clickNews()) {
                news.computeIfAbsent(e.requestId + " click", x -> new java.util.ArrayList<>())
                        .add(e.click);
            }
            if (e.conversionNews()) {
                news.computeIfAbsent(e.requestId + " conversion", x -> new java.util.ArrayList<>())
                        .add(e.conversion);
            }
        }
        java.util.Map<String, List<Integer>> want = new java.util.TreeMap<>();
        want.put("b click", List.of(1, 1));
        want.put("b conversion", List.of(1, 1));
        want.put("k click", List.of(1, 1));
        want.put("k conversion", List.of(0, 0));
        want.put("l click", List.of(0, 1));
        want.put("l conversion", List.of(0, 0));
        want.put("n click", List.of(0, 0));
        want.put("n conversion", List.of(0, 0));
        want.put("w click", List.of(1, 1));
        want.put("w conversion", List.of(0, 1));
        assertEquals(want, news, all.toString());
        LabeledExample k = all.stream()
                .filter(e -> e.requestId.equals("k") && e.kind == Kind.NEGATIVE)
                .findFirst()
                .orElseThrow();
        assertArrayEquals(new float[] {nan, nan, 0, 1}, k.delayLabels(), "k: the conversion never came");
        h.processWatermark(T + 1_200);
        assertEquals(0, h.numEventTimeTimers(), "timers");
    }

    /**
     * fnw-matched: every impression goes at once as a fake negative of the click, and as one of the
     * conversion at a delay drawn from the recent conversions' delays after their impressions (none
     * recorded yet: at once); each positive once; the state stays until the last fake negative.
     */
    @Test
    void fnwMatchedSendsTheConversionsFakeNegativeWithTheDelaysOfRecentConversions() throws Exception {
        h = rocksDb(null, Feedback.FNW_MATCHED, 0);
        send(imp("a", T));
        h.processWatermark(T);
        assertEquals(2, out().size(), "no conversion delay known yet: both fake negatives at once: " + out());
        assertExample(out().get(0), "a", Kind.CLICK_NEGATIVE, 0, 0);
        assertEquals(true, out().get(0).clickNews());
        assertEquals(false, out().get(0).conversionNews(), "a negative of the click's tasks only");
        assertExample(out().get(1), "a", Kind.CONVERSION_NEGATIVE, 0, 0);
        assertEquals(false, out().get(1).clickNews());
        assertEquals(true, out().get(1).conversionNews(), "a negative of the conversion's tasks only");
        send(Event.click("a", T + 10, null));
        send(Event.conversion("a", T + 300, Double.NaN));
        send(imp("early", T + 300));
        h.processWatermark(T + 300);
        List<LabeledExample> early =
                out().stream().filter(e -> e.requestId.equals("early")).toList();
        assertEquals(2, early.size(), "a's conversion delay counts once it is sent, not as it is read: " + early);
        assertEquals(6, out().size());
        List<LabeledExample> a =
                out().stream().filter(e -> e.requestId.equals("a")).toList();
        assertEquals(4, a.size(), a.toString());
        assertExample(a.get(2), "a", Kind.CLICK, 1, 0);
        assertExample(a.get(3), "a", Kind.CONVERSION, 1, 1);
        // a's conversion came 300 ms after its impression, the only delay recorded: c's fake negative
        // of the conversion is due 300 ms after it, after its own conversion and its click window.
        h.processWatermark(T + 399);
        assertEquals(6, out().size());
        send(imp("c", T + 400));
        send(Event.click("c", T + 410, null));
        send(Event.conversion("c", T + 500, Double.NaN));
        h.processWatermark(T + 699);
        List<LabeledExample> c = new java.util.ArrayList<>(out()).subList(6, out().size());
        assertEquals(3, c.size(), "c's click negative, click and conversion: " + c);
        assertExample(c.get(0), "c", Kind.CLICK_NEGATIVE, 0, 0);
        assertExample(c.get(1), "c", Kind.CLICK, 1, 0);
        assertExample(c.get(2), "c", Kind.CONVERSION, 1, 1);
        h.processWatermark(T + 700);
        assertEquals(10, out().size());
        assertExample(out().get(9), "c", Kind.CONVERSION_NEGATIVE, 0, 0);
        // Each emission carries the event time that sent it (an elapsed feature's hours count from it),
        // not when its labels were final: c's click was read before its click negative left.
        assertEquals(T + 400, c.get(0).sentAt);
        assertEquals(T + 410, c.get(1).sentAt);
        assertEquals(T + 500, c.get(2).sentAt);
        assertEquals(T + 700, out().get(9).sentAt, "the fake negative's drawn time");
        h.processWatermark(T + 2_000);
        assertEquals(10, out().size(), "nothing more when the windows close");
        assertEquals(0, h.numEventTimeTimers(), "timers: every state has one, so none is left");
    }

    /**
     * fnw-matched: impression a at T, clicked at T + 10 and converted at T + {@code delay}, all sent,
     * so that {@code delay} is the one conversion delay recorded.
     */
    private void aConversionAfter(long delay) throws Exception {
        h = rocksDb(null, Feedback.FNW_MATCHED, 0);
        send(imp("a", T));
        send(Event.click("a", T + 10, null));
        send(Event.conversion("a", T + delay, Double.NaN));
        h.processWatermark(T + delay);
        assertEquals(4, out().size(), "a: both fake negatives, its click and its conversion: " + out());
    }

    /**
     * fnw-matched keeps a state past its windows until the conversion's fake negative has gone; an
     * event that comes meanwhile is late, as in every other mode: counted, not joined.
     */
    @Test
    void fnwMatchedCountsAnEventAfterTheWindowsAsLateWhileItsFakeNegativeWaits() throws Exception {
        aConversionAfter(900);
        send(imp("b", T + 1_000)); // its conversion's fake negative is due at T + 1,900
        h.processWatermark(T + 1_150);
        assertEquals(5, out().size(), "b's click negative: " + out());
        send(Event.click("b", T + 1_050, null)); // within b's click window, but read after it closed
        h.processWatermark(T + 1_899);
        assertEquals(5, out().size(), "the late click is not joined: " + out());
        assertEquals(1, fn.counters().afterFinal.getCount(), "and is counted late");
        h.processWatermark(T + 1_900);
        assertEquals(6, out().size());
        assertExample(out().get(5), "b", Kind.CONVERSION_NEGATIVE, 0, 0);
        h.processWatermark(T + 3_000);
        assertEquals(0, h.numEventTimeTimers(), "timers");
    }

    /** fnw-matched across a restore: the recent delays and the pending fake negatives come back, sent once. */
    @Test
    void fnwMatchedAfterARestoreDrawsFromTheRestoredDelaysAndSendsEachFakeNegativeOnce() throws Exception {
        aConversionAfter(250);
        send(imp("b", T + 300));
        h.processWatermark(T + 300);
        assertEquals(5, out().size(), "a: both negatives, click, conversion; b: its click negative: " + out());
        OperatorSubtaskState snapshot = h.snapshot(1, 1);
        h.close();
        h = rocksDb(snapshot, Feedback.FNW_MATCHED, 0);
        send(imp("b", T + 300));
        send(imp("d", T + 400));
        h.processWatermark(T + 549);
        assertEquals(1, out().size(), "d's click negative only: " + out());
        assertExample(out().get(0), "d", Kind.CLICK_NEGATIVE, 0, 0);
        h.processWatermark(T + 550);
        assertEquals(2, out().size(), "b's fake negative of the conversion, 250 ms after it: " + out());
        assertExample(out().get(1), "b", Kind.CONVERSION_NEGATIVE, 0, 0);
        h.processWatermark(T + 650);
        assertEquals(3, out().size(), "d's, drawn from the restored delay: " + out());
        assertExample(out().get(2), "d", Kind.CONVERSION_NEGATIVE, 0, 0);
        h.processWatermark(T + 2_000);
        assertEquals(3, out().size());
        assertEquals(0, h.numEventTimeTimers(), "timers");
    }

    /**
     * fnw-matched with a prior (join.conversion-delay-prior): a conversion seen replaces one of the
     * prior's delays it could have had, and the rest of the prior, with the join's start, comes back
     * from a checkpoint as it was.
     */
    @Test
    void fnwMatchedWithAPriorKeepsWhatItHasNotSeenAcrossARestore() throws Exception {
        AttributionPolicy before = new AttributionPolicy(100, 1_000, 50, 20, true, Feedback.FNW_MATCHED, 0);
        before.recentDelays().prior(400, 1_100);
        h = rocksDb(null, before);
        send(imp("a", T));
        send(Event.click("a", T + 10, null));
        send(Event.conversion("a", T + 250, Double.NaN));
        h.processWatermark(T + 250);
        long[] seen = before.recentDelays().toArray();
        assertEquals(T, before.recentDelays().start());
        assertEquals(RecentDelays.DEFAULT_SIZE, seen.length);
        assertEquals(
                RecentDelays.DEFAULT_SIZE - 1,
                java.util.Arrays.stream(seen).filter(d -> d < 0).count(),
                "one of the prior's delays replaced");
        assertEquals(250, java.util.Arrays.stream(seen).filter(d -> d >= 0).sum(), "by a's, 250 ms");
        OperatorSubtaskState snapshot = h.snapshot(1, 1);
        h.close();
        AttributionPolicy after = new AttributionPolicy(100, 1_000, 50, 20, true, Feedback.FNW_MATCHED, 0);
        after.recentDelays().prior(400, 1_100);
        h = rocksDb(snapshot, after);
        org.junit.jupiter.api.Assertions.assertArrayEquals(
                seen, after.recentDelays().toArray());
        assertEquals(T, after.recentDelays().start());
    }

    @Test
    void anObservationWindowAsLongAsTheClickWindowIsRefused() {
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> new AttributionPolicy(100, 1_000, 50, 20, true, Feedback.FNW, 100));
        assertEquals(
                "the observation window (100 ms) must be at least 0 and below the click window (100 ms)",
                e.getMessage());
    }
}
