package org.mmoestream.train;

import java.util.Arrays;
import java.util.List;
import org.mmoestream.model.Batch;

/**
 * When the trained examples' labels were made final, gathered until the next version (the single
 * trainer and the reducer) or the next share (a replica): the wall-clock time the join emitted them
 * ({@link #emitted}: freshness after the join) and the event time at which they became final
 * ({@link #finals}: their age, queueing before the join included, when events are live).
 */
final class LabeledTimes {
    final Times emitted = new Times();
    final Times finals = new Times();

    /** A growing list of times. */
    static final class Times {
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
                labeled.emitted.add(e.labeledAt);
            }
            if (e.finalAt > 0) {
                labeled.finals.add(e.finalAt);
            }
        }
        return builder.build();
    }
}
