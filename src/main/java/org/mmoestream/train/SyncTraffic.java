package org.mmoestream.train;

import java.util.concurrent.atomic.LongAdder;

/**
 * Bytes exchanged to train models on several subtasks, and how stale the replicas train, summed
 * over every operator in this JVM: for benchmarks running a whole job with one model in one
 * process ({@code bin/mmoe bench train}). A cluster reads the per-operator metrics instead ({@code
 * sync_bytes_sent} and {@code reducer_wait_nanos} of the replicas, {@code sync_bytes_published} of
 * the reducer).
 */
public final class SyncTraffic {
    /** Bytes of the deltas the replicas sent the reducers. */
    public static final LongAdder DELTA_BYTES = new LongAdder();
    /** Bytes of the synchronization versions the reducers wrote (each replica of the model reads them). */
    public static final LongAdder SYNC_BYTES = new LongAdder();

    /** Examples trained by every replica. */
    public static final LongAdder TRAINED = new LongAdder();
    /**
     * Per batch a replica trains: the examples other replicas had trained that its model did not
     * include yet (their sum, the batches, the largest).
     */
    public static final LongAdder STALE_SUM = new LongAdder();

    public static final LongAdder STALE_BATCHES = new LongAdder();
    public static final java.util.concurrent.atomic.LongAccumulator STALE_MAX =
            new java.util.concurrent.atomic.LongAccumulator(Math::max, 0);

    private SyncTraffic() {}

    /** Starts the staleness figures over (a benchmark's next run). */
    public static void resetStaleness() {
        TRAINED.reset();
        STALE_SUM.reset();
        STALE_BATCHES.reset();
        STALE_MAX.reset();
    }

    /** Records a batch about to be trained on a model that includes {@code seen} examples. */
    static void batch(long seen) {
        long stale = Math.max(0, TRAINED.sum() - seen);
        STALE_SUM.add(stale);
        STALE_BATCHES.increment();
        STALE_MAX.accumulate(stale);
    }
}
