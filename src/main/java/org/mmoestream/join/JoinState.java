package org.mmoestream.join;

/**
 * The partial join of one request id (a Flink POJO: primitives and strings only). Timestamps of
 * events not seen are {@link #NONE}. Once the example is emitted, {@link #done} is set and the
 * features are dropped; the rest is kept until {@link #deadline} to recognise duplicates.
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
  /** Event time of the one timer this join has, or {@link #NONE} when the state can go. */
  public long deadline = NONE;

  public JoinState() {}
}
