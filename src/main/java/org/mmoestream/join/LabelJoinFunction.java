package org.mmoestream.join;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.TimerService;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;
import org.mmoestream.event.Event;
import org.mmoestream.event.LabeledExample;

/**
 * The label join over impressions, clicks and conversions keyed by request id: reads the {@link
 * JoinState}, asks {@link AttributionPolicy}, writes the state back, keeps exactly one event-time
 * timer at the state's deadline, and emits final examples. Counts duplicates, orphans and events
 * outside their windows in the metric group {@code join}. The recent conversion delays that {@code
 * fnw-matched} draws from ({@link RecentDelays}) are this subtask's operator state.
 */
public class LabelJoinFunction extends KeyedProcessFunction<String, Event, LabeledExample>
        implements CheckpointedFunction {
    private static final long serialVersionUID = 1L;

    private final AttributionPolicy policy;
    private transient ValueState<JoinState> state;
    private transient Counters counters;
    private transient ListState<Long> recentDelays;
    /** The earliest impression of a conversion {@link #recentDelays} has seen (one per subtask). */
    private transient ListState<Long> recentDelaysStart;

    public LabelJoinFunction(AttributionPolicy policy) {
        this.policy = policy;
    }

    /** Flink metrics of the join. */
    static final class Counters implements JoinListener {
        final Counter examples;
        final Counter duplicates;
        final Counter afterFinal;
        final Counter orphans;
        final Counter clicksOutsideWindow;
        final Counter conversionsOutsideWindow;
        final Counter conversionsWithoutClick;
        /** Per emission kind ({@link LabeledExample.Kind}), the examples sent: label {@code kind}. */
        final Counter[] emitted = new Counter[LabeledExample.Kind.values().length];

        Counters(MetricGroup g) {
            for (LabeledExample.Kind k : LabeledExample.Kind.values()) {
                emitted[k.ordinal()] = g.addGroup("kind", k.name().toLowerCase(java.util.Locale.ROOT))
                        .counter("emitted");
            }
            examples = g.counter("examples");
            duplicates = g.counter("duplicates");
            afterFinal = g.counter("events_after_final");
            orphans = g.counter("orphans");
            clicksOutsideWindow = g.counter("clicks_outside_window");
            conversionsOutsideWindow = g.counter("conversions_outside_window");
            conversionsWithoutClick = g.counter("conversions_without_click");
        }

        @Override
        public void duplicate(Event e) {
            duplicates.inc();
        }

        @Override
        public void afterFinal(Event e) {
            afterFinal.inc();
        }

        @Override
        public void orphan(JoinState s) {
            orphans.inc();
        }

        @Override
        public void outsideWindow(Event.Kind kind) {
            (kind == Event.Kind.CLICK ? clicksOutsideWindow : conversionsOutsideWindow).inc();
        }

        @Override
        public void conversionWithoutClick() {
            conversionsWithoutClick.inc();
        }
    }

    @Override
    public void open(OpenContext ctx) {
        state = getRuntimeContext().getState(new ValueStateDescriptor<>("join", TypeInformation.of(JoinState.class)));
        counters = new Counters(getRuntimeContext().getMetricGroup().addGroup("join"));
    }

    @Override
    public void initializeState(FunctionInitializationContext ctx) throws Exception {
        recentDelays = ctx.getOperatorStateStore()
                .getListState(new ListStateDescriptor<>("recent-conversion-delays", Long.class));
        recentDelaysStart = ctx.getOperatorStateStore()
                .getListState(new ListStateDescriptor<>("recent-conversion-delays-start", Long.class));
        if (ctx.isRestored()) {
            long start = Long.MAX_VALUE;
            for (Long t : recentDelaysStart.get()) {
                start = Math.min(start, t);
            }
            java.util.List<Long> saved = new java.util.ArrayList<>();
            recentDelays.get().forEach(saved::add);
            policy.recentDelays()
                    .restore(saved.stream().mapToLong(Long::longValue).toArray(), start);
        }
    }

    @Override
    public void snapshotState(FunctionSnapshotContext ctx) throws Exception {
        java.util.List<Long> kept = new java.util.ArrayList<>();
        for (long d : policy.recentDelays().toArray()) {
            kept.add(d);
        }
        recentDelays.update(kept);
        recentDelaysStart.update(java.util.List.of(policy.recentDelays().start()));
    }

    Counters counters() {
        return counters;
    }

    @Override
    public void processElement(Event e, Context ctx, Collector<LabeledExample> out) throws Exception {
        JoinState s = state.value();
        if (s == null) {
            s = new JoinState();
        }
        long before = s.deadline;
        String key = ctx.getCurrentKey();
        long now = ctx.timerService().currentProcessingTime();
        policy.onEvent(s, e, counters, ex -> emit(ex, key, now, e.ts, out));
        store(s, before, ctx.timerService());
    }

    @Override
    public void onTimer(long time, OnTimerContext ctx, Collector<LabeledExample> out) throws Exception {
        JoinState s = state.value();
        if (s == null || s.deadline != time) {
            return; // a timer replaced before it could be deleted; the current one is registered
        }
        String key = ctx.getCurrentKey();
        long now = ctx.timerService().currentProcessingTime();
        policy.onTimer(s, time, counters, ex -> emit(ex, key, now, time, out));
        store(s, JoinState.NONE, ctx.timerService());
    }

    /** Writes the state (or clears it) and moves the one timer from {@code before} to its deadline. */
    private void store(JoinState s, long before, TimerService timers) throws Exception {
        if (s.deadline != before) {
            if (before != JoinState.NONE) {
                timers.deleteEventTimeTimer(before);
            }
            if (s.deadline != JoinState.NONE) {
                timers.registerEventTimeTimer(s.deadline);
            }
        }
        if (s.deadline == JoinState.NONE) {
            state.clear();
        } else {
            state.update(s);
        }
    }

    /**
     * Emits {@code ex} at wall-clock {@code now}, made final by the event or timer at event time
     * {@code at}: final at the latest of that and its click and conversion (an impression that comes
     * after its conversion completes the example, but its labels were there at the conversion).
     */
    private void emit(LabeledExample ex, String key, long now, long at, Collector<LabeledExample> out) {
        ex.requestId = key;
        ex.labeledAt = now;
        ex.finalAt = Math.max(at, Math.max(ex.clickTs, ex.conversionTs));
        ex.sentAt = at;
        counters.examples.inc();
        counters.emitted[ex.kind.ordinal()].inc();
        out.collect(ex);
    }
}
