package org.mmoestream.event;

/**
 * One score on the scores topic (DESIGN.md, Events): one value per head of the model's spec, by
 * name ({@code ctr}, {@code cvr}, {@code ctcvr} for the CTR/CVR spec; {@code income} and {@code
 * marital} for the census spec). A Flink POJO: arrays of built-in types only, no Kryo.
 */
public class ScoreRecord {
    public String requestId;
    public String model;
    public long modelVersion;
    /** Head names, in the order of {@link #values}; shared by every score of a version. */
    public String[] heads;

    public double[] values;
    public long scoredAt;
    /** True when the model version was older than the configured maximum age when it scored. */
    public boolean stale;

    public ScoreRecord() {}

    /** The score of head {@code name}, or NaN when the model has no such head. */
    public double head(String name) {
        for (int i = 0; i < heads.length; i++) {
            if (heads[i].equals(name)) {
                return values[i];
            }
        }
        return Double.NaN;
    }
}
