package org.mmoestream.join;

import java.io.Serializable;

/**
 * The delays after their impressions of the last {@link #size} conversions the join has seen within
 * their windows, from which {@code fnw-matched} draws when an impression goes as a fake negative of
 * the conversion: so an item's fake negatives reach training with the delays its positives do,
 * whatever its traffic does meanwhile.
 *
 * <p>A join that has just started has seen only the delays shorter than its own age: the later
 * conversions of its first impressions have not come yet. Drawn from those alone, the fake
 * negatives of its first day go to training sooner than their conversions do, so the conversion
 * heads read low on that day and high on the next, when the late conversions come without their
 * negatives. With a {@link #prior}, the sample starts as that distribution, and a conversion seen
 * replaces only a kept delay no longer than the join's age (the time since the earliest impression
 * of a conversion it has seen): the longer delays of the prior stay until the join is old enough to
 * have seen them, then go as every other, oldest first.
 */
public final class RecentDelays implements Serializable {
    private static final long serialVersionUID = 3L;

    /** How many delays are kept by default ({@code join.conversion-delay-sample}). */
    public static final int DEFAULT_SIZE = 4096;

    /**
     * The most a sample may keep: a million delays are 9 MB of the join's operator state, in every
     * checkpoint.
     */
    public static final int MAX_SIZE = 1 << 20;

    /** The delays kept, as many as the sample's size. */
    private final long[] delays;
    /** Which of {@link #delays} are the prior's, not yet replaced by a conversion seen. */
    private final boolean[] prior;

    private int priorLeft;
    /** Delays kept, at most {@link #size}. */
    private int kept;
    /** The slot the next delay goes to (or the search for one starts at): the oldest. */
    private int next;
    /** The earliest impression of a conversion seen; {@link Long#MAX_VALUE} before any. */
    private long start = Long.MAX_VALUE;

    /** A sample of the last {@link #DEFAULT_SIZE} delays. */
    public RecentDelays() {
        this(DEFAULT_SIZE);
    }

    /**
     * A sample of the last {@code size} delays. The share of the delays in any range that it holds
     * scatters about the stream's by {@code sqrt((1 - f) / (size f))} relative (f: the stream's
     * share), and the sample turns over once every {@code size} conversions.
     */
    public RecentDelays(int size) {
        if (size < 1 || size > MAX_SIZE) {
            throw new IllegalArgumentException("a sample of delays keeps 1 to " + MAX_SIZE + ", not " + size);
        }
        this.delays = new long[size];
        this.prior = new boolean[size];
    }

    /** How many delays the sample keeps when full. */
    public int size() {
        return delays.length;
    }

    /**
     * Fills the sample with the delays of an exponential distribution of mean {@code mean}
     * truncated at {@code max} (its {@link #size} quantiles), as the delays of conversions not yet
     * seen.
     */
    public void prior(long mean, long max) {
        if (mean <= 0 || max <= 0) {
            throw new IllegalArgumentException("a prior's mean and longest delay must be above 0");
        }
        double mass = -Math.expm1(-(double) max / mean);
        for (int i = 0; i < delays.length; i++) {
            delays[i] = Math.min(max, Math.round(-mean * Math.log1p(-mass * (i + 0.5) / delays.length)));
            prior[i] = true;
        }
        priorLeft = delays.length;
        kept = delays.length;
        next = 0;
    }

    /** Records the delay of a conversion after its impression; the conversion is at {@code at}. */
    public void add(long delay, long at) {
        start = Math.min(start, at - delay);
        long age = at - start;
        int slot = next;
        if (priorLeft > 0) {
            // A prior's delay longer than the join's age stays: no conversion seen can have it.
            int n = 0;
            while (prior[slot] && delays[slot] > age && n < delays.length) {
                slot = (slot + 1) % delays.length;
                n++;
            }
            if (n == delays.length) {
                // Every kept delay is the prior's and longer than the join's age: none can go yet.
                return;
            }
        }
        put(slot, delay, false);
    }

    /** Keeps {@code delay} in {@code slot}, the prior's if {@code fromPrior}; the next goes after. */
    private void put(int slot, long delay, boolean fromPrior) {
        priorLeft += (fromPrior ? 1 : 0) - (prior[slot] ? 1 : 0);
        prior[slot] = fromPrior;
        delays[slot] = delay;
        kept = Math.min(delays.length, kept + 1);
        next = (slot + 1) % delays.length;
    }

    /**
     * The delays kept, oldest first, a prior's as {@code -1 - delay} (what a checkpoint keeps; see
     * {@link #restore}).
     */
    public long[] toArray() {
        long[] out = new long[kept];
        for (int i = 0; i < kept; i++) {
            int slot = (next - kept + i + delays.length) % delays.length;
            out[i] = prior[slot] ? -1 - delays[slot] : delays[slot];
        }
        return out;
    }

    /**
     * The earliest impression of a conversion seen, {@link Long#MAX_VALUE} before any (a checkpoint
     * keeps it).
     */
    public long start() {
        return start;
    }

    /**
     * Adds, after what is kept, the delays of a checkpoint ({@link #toArray}) and its start, the
     * earliest of the restored and this sample's: a restored copy draws and replaces as the
     * checkpointed one did.
     */
    public void restore(long[] saved, long savedStart) {
        for (long d : saved) {
            put(next, d < 0 ? -1 - d : d, d < 0);
        }
        start = Math.min(start, savedStart);
    }

    /**
     * A delay drawn by {@code hash} from those kept (by their order of arrival, so a restored copy
     * draws the same); 0 before any is recorded.
     */
    public long draw(long hash) {
        if (kept == 0) {
            return 0;
        }
        int drawn = (int) Math.floorMod(hash, (long) kept);
        return delays[(next - kept + drawn + delays.length) % delays.length];
    }
}
