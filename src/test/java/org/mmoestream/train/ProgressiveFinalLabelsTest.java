package org.mmoestream.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.mmoestream.event.Event;
import org.mmoestream.event.LabeledExample;
import org.mmoestream.join.AttributionPolicy;
import org.mmoestream.join.Feedback;
import org.mmoestream.join.JoinListener;
import org.mmoestream.join.JoinState;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.Heads;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.TaskSpec;
import org.mmoestream.model.Variant;
import org.mmoestream.testing.TestSpecs;

/**
 * What the trainer's progressive metrics measure under the early feedback modes: each task's final
 * label, never a fake negative. Three impressions through the join's policy (clicked and converted
 * 2 h later; clicked, never converted; never clicked), their emissions encoded as the pipeline
 * encodes them, then visited as the trainer measures a batch: with defer and es-dfm each head of
 * each impression is measured exactly once, with its final label; fnw never finalizes a negative.
 */
class ProgressiveFinalLabelsTest {
    private static final long T = 1_767_225_600_000L;
    private static final long MINUTE = 60_000;
    private static final String FEATURES = "{\"user\":\"u1\",\"item\":\"i2\",\"tags\":\"t1\",\"price\":3,\"age\":30}";

    /** The emissions of the three impressions, in event-time order, with their timers fired in time. */
    private static List<LabeledExample> emissions(Feedback feedback, long observation) {
        AttributionPolicy policy =
                new AttributionPolicy(30 * MINUTE, 24 * 60 * MINUTE, 5 * MINUTE, 0, true, feedback, observation);
        List<Event> events = List.of(
                Event.impression("converted", T, "m", FEATURES),
                Event.impression("clicked", T, "m", FEATURES),
                Event.impression("ignored", T, "m", FEATURES),
                Event.click("converted", T + MINUTE, null),
                Event.click("clicked", T + MINUTE, null),
                Event.conversion("converted", T + 120 * MINUTE, Double.NaN));
        Map<String, JoinState> states = new TreeMap<>();
        List<LabeledExample> out = new ArrayList<>();
        for (Event e : events) {
            fireUntil(e.ts, policy, states, out);
            JoinState s = states.computeIfAbsent(e.requestId, k -> new JoinState());
            policy.onEvent(s, e, JoinListener.IGNORE, ex -> out.add(named(ex, e.requestId)));
        }
        fireUntil(Long.MAX_VALUE, policy, states, out);
        return out;
    }

    private static void fireUntil(
            long limit, AttributionPolicy p, Map<String, JoinState> states, List<LabeledExample> out) {
        boolean fired = true;
        while (fired) {
            fired = false;
            for (Map.Entry<String, JoinState> s : states.entrySet()) {
                long deadline = s.getValue().deadline;
                if (deadline != JoinState.NONE && deadline < limit) {
                    p.onTimer(s.getValue(), deadline, JoinListener.IGNORE, ex -> out.add(named(ex, s.getKey())));
                    fired = true;
                }
            }
        }
    }

    private static LabeledExample named(LabeledExample ex, String id) {
        ex.requestId = id;
        return ex;
    }

    /**
     * Per "request head" the labels the trainer's progressive metrics measure when {@code
     * emissions} are trained one by one in their order, each row predicted with its index (so that
     * the prediction measured is known to be the first emission's); then the watermark passes the
     * click's horizon (the click's task is measured) and every horizon (the other heads).
     */
    private static Map<String, List<Integer>> measured(ModelSpec spec, List<LabeledExample> emissions) {
        ExampleEncoder enc = new ExampleEncoder(spec);
        Outcomes outcomes = new Outcomes(spec, 31 * MINUTE, HORIZON);
        List<String> heads = spec.heads();
        Map<String, List<Integer>> seen = new TreeMap<>();
        List<TrainExample> rows = new ArrayList<>();
        Map<String, Integer> firstRow = new TreeMap<>();
        for (LabeledExample e : emissions) {
            firstRow.putIfAbsent(e.requestId, rows.size());
            rows.add(EncodeExamples.encode(enc, e));
        }
        Heads.Visitor v = (h, p, y) -> {
            if (List.of("ctr", "cvr", "ctcvr").contains(heads.get(h))) {
                TrainExample first = rows.get((int) p);
                assertEquals(firstRow.get(first.requestId), (int) p, "predicted at the first emission");
                String key = first.requestId + " " + heads.get(h);
                seen.computeIfAbsent(key, k -> new ArrayList<>()).add((int) y);
            }
        };
        for (int r = 0; r < rows.size(); r++) {
            double[][] p = new double[heads.size()][1];
            for (double[] ph : p) {
                ph[0] = r;
            }
            // No watermark yet (MIN_VALUE): nothing is due.
            outcomes.add(List.of(rows.get(r)), p, Long.MIN_VALUE, v);
        }
        assertEquals(Map.of(), seen);
        // Once the click window (and the disorder allowed) has closed: the click's task only.
        outcomes.add(List.of(), new double[heads.size()][0], T + 31 * MINUTE, v);
        assertEquals(
                List.of("clicked ctr", "converted ctr", "ignored ctr"), List.copyOf(seen.keySet()), seen.toString());
        outcomes.add(List.of(), new double[heads.size()][0], T + HORIZON, v);
        assertEquals(0, outcomes.pending());
        return seen;
    }

    private static final long HORIZON = 30 * MINUTE + 24 * 60 * MINUTE;

    /** Each head once, with its final label (and, checked as it is measured, the prediction of the first emission). */
    private static final Map<String, List<Integer>> FINAL = Map.of(
            "converted ctr", List.of(1),
            "converted cvr", List.of(1),
            "converted ctcvr", List.of(1),
            "clicked ctr", List.of(1),
            "clicked cvr", List.of(0),
            "clicked ctcvr", List.of(0),
            "ignored ctr", List.of(0),
            "ignored ctcvr", List.of(0));

    @Test
    void deferMeasuresEachHeadOnceWithItsFinalLabelAndThePredictionAtTheImpression() {
        assertEachHeadMeasuredOnce(Feedback.DEFER, LabeledExample.Kind.OBSERVED);
    }

    /** Under {@code feedback}, whose first emission of each impression is {@code first}: each head once, final. */
    private static void assertEachHeadMeasuredOnce(Feedback feedback, LabeledExample.Kind first) {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        List<LabeledExample> sent = emissions(feedback, 0);
        assertEquals(3, sent.stream().filter(e -> e.kind == first).count(), sent.toString());
        assertEquals(new TreeMap<>(FINAL), measured(spec, sent), sent.toString());
    }

    @Test
    void esDfmMeasuresEachHeadOnceIncludingWhatItsClosingEmissionFinalizes() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of())
                .withDelayHeads(TaskSpec.CONVERSION)
                .withDelayHeads(TaskSpec.CLICK);
        List<LabeledExample> sent = emissions(Feedback.ES_DFM, 15 * MINUTE);
        assertTrue(sent.stream().anyMatch(e -> e.kind == LabeledExample.Kind.CLOSED), sent.toString());
        assertEquals(new TreeMap<>(FINAL), measured(spec, sent), sent.toString());
    }

    /** fnw sends no closing emission: its negatives are final when the event time passes the horizon. */
    @Test
    void fnwMeasuresItsNegativesWhenTheirHorizonHasPassed() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        assertEquals(new TreeMap<>(FINAL), measured(spec, emissions(Feedback.FNW, 0)));
    }

    /**
     * fnw-matched: an impression is first sent as the click's fake negative, and measured from it; its
     * conversion's fake negative, which may come after the conversion, does not undo the positive.
     */
    @Test
    void fnwMatchedMeasuresFromTheClicksFakeNegative() {
        assertEachHeadMeasuredOnce(Feedback.FNW_MATCHED, LabeledExample.Kind.CLICK_NEGATIVE);
    }

    /**
     * A conversion without a value (the only one here) leaves the value head unmeasured, as it
     * leaves it untrained: its label is unknown, not 0.
     */
    @Test
    void aConversionWithoutAValueLeavesTheValueHeadUnmeasured() {
        ModelSpec spec = org.mmoestream.model.SpecLoader.load(java.nio.file.Path.of("examples/ctr-cvr-value.yaml"));
        ExampleEncoder enc = new ExampleEncoder(spec);
        Outcomes outcomes = new Outcomes(spec, 31 * MINUTE, HORIZON);
        int value = spec.heads().indexOf("value");
        assertTrue(value >= 0, spec.heads().toString());
        List<Double> labels = new ArrayList<>();
        int[] visits = new int[1];
        Heads.Visitor v = (h, p, y) -> {
            visits[0]++;
            if (h == value) {
                labels.add((double) y);
            }
        };
        for (LabeledExample e : emissions(Feedback.DEFER, 0)) {
            outcomes.add(
                    List.of(EncodeExamples.encode(enc, e)),
                    new double[spec.heads().size()][1],
                    Long.MIN_VALUE,
                    v);
        }
        outcomes.add(List.of(), new double[spec.heads().size()][0], T + HORIZON, v);
        assertTrue(visits[0] >= 8, "the other heads are measured: " + visits[0]);
        assertEquals(List.of(), labels, "the value head of the conversion without a value");
    }

    /** Many pending impressions: a consistent sample of them, halved while above the capacity. */
    @Test
    void pendingImpressionsAreASampleBoundedByTheCapacity() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        ExampleEncoder enc = new ExampleEncoder(spec);
        Outcomes outcomes = new Outcomes(spec, 31 * MINUTE, HORIZON, 100);
        List<TrainExample> observed = new ArrayList<>();
        for (int i = 0; i < 10_000; i++) {
            LabeledExample e = new LabeledExample();
            e.requestId = "q" + i;
            e.model = "m";
            e.features = FEATURES;
            e.impressionTs = T + i;
            e.kind = LabeledExample.Kind.OBSERVED;
            observed.add(EncodeExamples.encode(enc, e));
        }
        double[][] p = new double[spec.heads().size()][observed.size()];
        outcomes.add(observed, p, T, (h, q, y) -> {});
        assertTrue(outcomes.pending() <= 100 && outcomes.pending() > 25, "pending " + outcomes.pending());
        int[] measured = new int[1];
        outcomes.add(List.of(), new double[spec.heads().size()][0], T + 20_000 + HORIZON, (h, q, y) -> measured[0]++);
        assertEquals(0, outcomes.pending());
        assertTrue(measured[0] > 25, "each sampled impression measured on ctr and ctcvr: " + measured[0]);
    }
}
