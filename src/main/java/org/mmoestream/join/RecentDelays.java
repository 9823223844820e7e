package org.mmoestream.join;

import java.io.Serializable;

/**
 * The delays after their impressions of the last {@link #SIZE} conversions the join has seen within
 * their windows, from which {@code fnw-matched} draws when an impression goes as a fake negative of
 * the conversion: so an item's fake negatives reach training with the delays its positives do,
 * whatever its traffic does meanwhile.
 */
public final class RecentDelays implements Serializable {
    private static final long serialVersionUID = 1L;

    /** How many delays are kept. */
    public static final int SIZE = 4096;

    private final long[] delays = new long[SIZE];
    private long seen;

    /** Records the delay of a conversion after its impression. */
    public void add(long delay) {
        delays[(int) (seen++ % SIZE)] = delay;
    }

    /** The delays kept, oldest first (what a checkpoint keeps; {@link #add} them in order to restore). */
    public long[] toArray() {
        int n = (int) Math.min(seen, SIZE);
        long[] out = new long[n];
        for (int i = 0; i < n; i++) {
            out[i] = delays[(int) ((seen - n + i) % SIZE)];
        }
        return out;
    }

    /**
     * A delay drawn by {@code hash} from those kept (by their order of arrival, so a restored copy
     * draws the same); 0 before any is recorded.
     */
    public long draw(long hash) {
        int n = (int) Math.min(seen, SIZE);
        return n == 0 ? 0 : delays[(int) ((seen - n + Math.floorMod(hash, (long) n)) % SIZE)];
    }
}
