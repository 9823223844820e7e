package org.mmoestream.score;

/** One score on the scores topic (DESIGN.md, Events); a Flink POJO. */
public class ScoreRecord {
  public String requestId;
  public String model;
  public long modelVersion;
  public double ctr = Double.NaN;
  public double cvr = Double.NaN;
  public double ctcvr = Double.NaN;
  public long scoredAt;
  /** True when the model version was older than the configured maximum age when it scored. */
  public boolean stale;

  public ScoreRecord() {}
}
