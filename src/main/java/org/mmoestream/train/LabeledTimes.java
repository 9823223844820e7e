package org.mmoestream.train;

import java.util.Arrays;
import java.util.List;
import org.mmoestream.model.Batch;

/**
 * When the join made the trained examples' labels final (wall clock ms), gathered until the next
 * version (the single trainer and the reducer: freshness) or the next delta (a replica).
 */
final class LabeledTimes {
    private long[] times = new long[1024];
    private int count;

    void add(long t) {
        if (count == times.length) {
            times = Arrays.copyOf(times, count * 2);
        }
        times[count++] = t;
    }

    void addAll(long[] ts) {
        for (long t : ts) {
            add(t);
        }
    }

    /** The times gathered since the last call, oldest first; then none. */
    long[] drain() {
        long[] out = Arrays.copyOf(times, count);
        count = 0;
        return out;
    }

    /**
     * The batch of {@code examples} built with {@code builder} (cleared first); the label times of
     * those that have one go to {@code labeled}.
     */
    static Batch build(Batch.Builder builder, List<TrainExample> examples, LabeledTimes labeled) {
        builder.clear();
        for (TrainExample e : examples) {
            builder.add(e.ids, e.counts, e.dense, e.labels);
            if (e.labeledAt > 0) {
                labeled.add(e.labeledAt);
            }
        }
        return builder.build();
    }
}
