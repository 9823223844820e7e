package org.mmoestream.train;

import java.util.concurrent.atomic.LongAdder;

/**
 * Bytes exchanged to train models on several subtasks, summed over every operator in this JVM: for
 * benchmarks running a whole job in one process ({@code bin/mmoe bench train}). A cluster reads
 * the per-operator metrics instead ({@code sync_bytes_sent} of the replicas, {@code
 * sync_bytes_published} of the reducer).
 */
public final class SyncTraffic {
  /** Bytes of the deltas the replicas sent the reducers. */
  public static final LongAdder DELTA_BYTES = new LongAdder();
  /** Bytes of the synchronization versions the reducers wrote (each replica of the model reads them). */
  public static final LongAdder SYNC_BYTES = new LongAdder();

  private SyncTraffic() {}
}
