package org.mmoestream.join;

/**
 * The partial join of one request id (a Flink POJO: primitives and strings only). Timestamps of
 * events not seen are {@link #NONE}. Once the labels are final, {@link #done} is set and the
 * features are dropped; the rest is kept until {@link #deadline} to recognise duplicates. With an
 * early feedback mode the features stay until then, for the re-emissions of later clicks and
 * conversions.
 */
public class JoinState {
    public static final long NONE = Long.MIN_VALUE;

    public long impressionTs = NONE;
    public String model;
    public String features;
    public long clickTs = NONE;
    public String clickId;
    public long conversionTs = NONE;
    public double conversionValue = Double.NaN;
    /** Event time of the first event of this request, which starts the orphan wait. */
    public long firstSeen = NONE;

    public boolean done;
    /**
     * With an early feedback mode: the kinds emitted so far, as bits {@code 1 << Kind.ordinal()}, and
     * bit 30 once the windows have closed.
     */
    public int emitted;
    /**
     * With {@code fnw-matched}: the event time at which the impression goes as a fake negative of the
     * conversion's tasks, drawn when it comes from the delays of recent conversions after their
     * impressions ({@link RecentDelays}); its fake negative of the click's goes at the impression.
     */
    public long conversionNegativeAt = NONE;
    /** Event time of the one timer this join has, or {@link #NONE} when the state can go. */
    public long deadline = NONE;

    public JoinState() {}
}
