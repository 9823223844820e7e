package org.mmoestream.train;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.PriorityQueue;

/**
 * The order in which one model's examples are trained (pure: no Flink). In arrival order, an
 * example joins the batch being filled at once. In event-time order, it is held until the
 * watermark passes its impression time plus the horizon (click window + conversion window: by
 * then the join has emitted every example of an earlier impression), and released in (impression
 * time, request id) order, so that training is a function of the events alone.
 */
final class TrainingOrder {
    /** Event-time order: impression time, then request id. */
    static final Comparator<TrainExample> EVENT_TIME = Comparator.<TrainExample>comparingLong(e -> e.impressionTs)
            .thenComparing(e -> e.requestId, Comparator.nullsFirst(Comparator.naturalOrder()));

    private final long horizon;
    /** Examples waiting for a batch, in training order. */
    private final List<TrainExample> buffer = new ArrayList<>();
    /** Examples held for event-time order, earliest first. */
    private final PriorityQueue<TrainExample> held = new PriorityQueue<>(EVENT_TIME);

    /** {@code horizon} 0: arrival order; positive: event-time order with that horizon (ms). */
    TrainingOrder(long horizon) {
        this.horizon = horizon;
    }

    boolean eventTime() {
        return horizon > 0;
    }

    /** When an example may be trained in event-time order: its impression time plus the horizon. */
    long due(TrainExample e) {
        return e.impressionTs + horizon;
    }

    /**
     * Takes an example at watermark {@code watermark}; returns true when it is held (event-time
     * order, not yet due), false when it joined the batch buffer.
     */
    boolean offer(TrainExample e, long watermark) {
        if (eventTime() && due(e) > watermark) {
            held.add(e);
            return true;
        }
        buffer.add(e);
        return false;
    }

    /** Moves the held examples due by {@code watermark} to the buffer, in event-time order. */
    void release(long watermark) {
        while (!held.isEmpty() && due(held.peek()) <= watermark) {
            buffer.add(held.poll());
        }
    }

    /** When the earliest held example is due, or Long.MAX_VALUE when none is held. */
    long nextDue() {
        return held.isEmpty() ? Long.MAX_VALUE : due(held.peek());
    }

    int buffered() {
        return buffer.size();
    }

    int heldCount() {
        return held.size();
    }

    /** Removes and returns the first {@code n} buffered examples. */
    List<TrainExample> take(int n) {
        List<TrainExample> out = new ArrayList<>(buffer.subList(0, n));
        buffer.subList(0, n).clear();
        return out;
    }

    /** The buffered and the held examples, for state. */
    List<TrainExample> buffer() {
        return buffer;
    }

    List<TrainExample> held() {
        return new ArrayList<>(held);
    }

    /** Restores what {@link #buffer()} and {@link #held()} returned. */
    void restore(Iterable<TrainExample> buffered, Iterable<TrainExample> heldExamples) {
        buffer.clear();
        held.clear();
        buffered.forEach(buffer::add);
        heldExamples.forEach(held::add);
    }
}
