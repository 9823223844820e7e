package org.mmoestream.train;

import java.util.concurrent.atomic.LongAccumulator;
import java.util.concurrent.atomic.LongAdder;

/**
 * Bytes exchanged to train models on several subtasks, and the shares that came late, summed over
 * every operator in this JVM: for benchmarks running a whole job with one model in one process
 * ({@code bin/mmoe bench train}). A cluster reads the per-operator metrics instead ({@code
 * gradient_bytes_sent} and {@code round_wait_nanos} of the replicas, {@code sync_bytes_published},
 * {@code rounds} and {@code stale_shares} of the reducer).
 */
public final class SyncTraffic {
    /** Bytes of the gradients the replicas sent the reducers. */
    public static final LongAdder GRADIENT_BYTES = new LongAdder();
    /** Bytes of the synchronization versions the reducers wrote (each replica of the model reads them). */
    public static final LongAdder SYNC_BYTES = new LongAdder();
    /** Shares computed on an older version than the round they joined, and their examples. */
    public static final LongAdder STALE_SHARES = new LongAdder();

    public static final LongAdder STALE_EXAMPLES = new LongAdder();
    /**
     * The fewest examples a model had trained on when a stale share came ({@link Long#MAX_VALUE}:
     * none came): how early in a run the first one came.
     */
    public static final LongAccumulator FIRST_STALE_AT = new LongAccumulator(Math::min, Long.MAX_VALUE);
    /** Shares sent by every replica. */
    public static final LongAdder SHARES = new LongAdder();

    private SyncTraffic() {}

    /** Starts the share figures over (a benchmark's next run). */
    public static void resetShares() {
        STALE_SHARES.reset();
        STALE_EXAMPLES.reset();
        FIRST_STALE_AT.reset();
        SHARES.reset();
    }
}
