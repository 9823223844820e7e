package org.mmoestream.train;

import java.util.Arrays;
import java.util.List;
import org.mmoestream.model.Batch;

/**
 * When the trained examples' labels were made final, gathered until the next version (the single
 * trainer and the reducer) or the next share (a replica): the wall-clock time the join emitted them
 * (freshness after the join) and the event time at which they became final (their age, queueing
 * before the join included, when events are live).
 */
final class LabeledTimes {
    private long[] times = new long[1024];
    private int count;
    private long[] finals = new long[1024];
    private int finalCount;

    void add(long t) {
        if (count == times.length) {
            times = Arrays.copyOf(times, count * 2);
        }
        times[count++] = t;
    }

    void addFinal(long t) {
        if (finalCount == finals.length) {
            finals = Arrays.copyOf(finals, finalCount * 2);
        }
        finals[finalCount++] = t;
    }

    void addAll(long[] ts) {
        for (long t : ts) {
            add(t);
        }
    }

    void addAllFinal(long[] ts) {
        for (long t : ts) {
            addFinal(t);
        }
    }

    /** The emission times gathered since the last call, oldest first; then none. */
    long[] drain() {
        long[] out = Arrays.copyOf(times, count);
        count = 0;
        return out;
    }

    /** The event times at which the labels became final, gathered since the last call; then none. */
    long[] drainFinal() {
        long[] out = Arrays.copyOf(finals, finalCount);
        finalCount = 0;
        return out;
    }

    /**
     * The batch of {@code examples} built with {@code builder} (cleared first); the label times of
     * those that have them go to {@code labeled}.
     */
    static Batch build(Batch.Builder builder, List<TrainExample> examples, LabeledTimes labeled) {
        builder.clear();
        for (TrainExample e : examples) {
            builder.add(e.ids, e.counts, e.dense, e.labels);
            if (e.labeledAt > 0) {
                labeled.add(e.labeledAt);
            }
            if (e.finalAt > 0) {
                labeled.addFinal(e.finalAt);
            }
        }
        return builder.build();
    }
}
