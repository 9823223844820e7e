package org.mmoestream.train;

/**
 * A labeled example encoded for the model: what the trainer needs and nothing more, in binary
 * form, so that its features are parsed and hashed once, upstream of the trainer, not on the
 * trainer's thread. A Flink POJO of primitive arrays (no Kryo).
 */
public class TrainExample {
    public String requestId;
    public String model;
    public long impressionTs;
    /** Wall-clock time (ms) at which the join made the labels final; 0 when unknown. */
    public long labeledAt;
    /** Event time (ms) at which the labels became final ({@link org.mmoestream.event.LabeledExample#finalAt}). */
    public long finalAt;
    /** The row ids of every sparse feature, feature after feature; {@link #counts} says how many each. */
    public int[] ids;
    /** Per sparse feature, the number of its values (1 unless multi-valued). */
    public int[] counts;
    /** Dense values after their encoder transform (NaN: missing, for standardized features). */
    public double[] dense;
    /** Per task, its 0/1 label. */
    public float[] labels;
    /**
     * Per task, its label as far as it is final (NaN where a later event may still change it), what
     * the progressive metrics measure ({@link Outcomes}); null when every label is final.
     */
    public float[] finalLabels;
    /** The join's emission ({@link org.mmoestream.event.LabeledExample.Kind} ordinal; 0: final labels). */
    public byte kind;

    public TrainExample() {}

    /** The example {@code e} of {@code model}, flattened. */
    public static TrainExample of(
            String requestId,
            String model,
            long impressionTs,
            long labeledAt,
            org.mmoestream.feature.EncodedExample e) {
        TrainExample t = new TrainExample();
        t.requestId = requestId;
        t.model = model;
        t.impressionTs = impressionTs;
        t.labeledAt = labeledAt;
        int[][] ids = e.sparseIds();
        int total = 0;
        for (int[] v : ids) {
            total += v.length;
        }
        t.ids = new int[total];
        t.counts = new int[ids.length];
        int pos = 0;
        for (int f = 0; f < ids.length; f++) {
            System.arraycopy(ids[f], 0, t.ids, pos, ids[f].length);
            pos += ids[f].length;
            t.counts[f] = ids[f].length;
        }
        t.dense = e.dense();
        t.labels = e.labels();
        return t;
    }

    @Override
    public String toString() {
        return requestId + "(" + model + ")";
    }
}
