package org.mmoestream.event;

/**
 * An impression with its final multi-task labels, emitted by the label join. Timestamps of events
 * that did not happen are {@link #NONE}.
 */
public class LabeledExample {
  public static final long NONE = Long.MIN_VALUE;

  public String requestId;
  public String model;
  /** The impression's features, JSON text. */
  public String features;
  public int click;
  public int conversion;
  public long impressionTs;
  public long clickTs = NONE;
  public long conversionTs = NONE;
  public double conversionValue = Double.NaN;
  /** Wall-clock time (ms) at which the join made the labels final; 0 when unknown. */
  public long labeledAt;

  public LabeledExample() {}

  @Override
  public String toString() {
    return requestId + "(click=" + click + ", conversion=" + conversion + ")";
  }
}
