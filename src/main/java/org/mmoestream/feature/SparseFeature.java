package org.mmoestream.feature;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * A categorical feature hashed into its own embedding table of {@code buckets} rows of {@code
 * dim} floats. A multi-valued feature (an array in JSON, or a {@code separator}-joined cell in CSV)
 * is mean-pooled over its values.
 *
 * @param name feature name, also the tensor name {@code embedding.<name>.weight}
 * @param column the CSV column (or event field) it is read from
 * @param buckets rows in the embedding table
 * @param dim embedding width
 * @param multi whether the feature holds several values
 * @param separator the separator of values in a CSV cell when {@code multi}
 * @param bias a selection-bias feature (position, device): its embedding feeds the shallow bias
 *     tower only, not the experts and gates (Zhao et al., RecSys 2019)
 * @param elapsed a bias feature whose value the trainer sets: the whole hours from the example's
 *     impression to the join's emission of it (README, Fresh labels), whatever the event carries
 * @param elapsedBy for an elapsed feature, the classes of another feature its hours are crossed with
 *     ({@code elapsed_by}), or null: the hours alone
 * @param learningRate the step size of this feature's embedding rows ({@code learning_rate}), or
 *     null: the optimizer's
 */
public record SparseFeature(
        String name,
        String column,
        int buckets,
        int dim,
        boolean multi,
        String separator,
        boolean bias,
        boolean elapsed,
        // Left out of the snapshot's spec when null, so readers from before the key read it.
        @JsonInclude(JsonInclude.Include.NON_NULL) ElapsedBy elapsedBy,
        @JsonInclude(JsonInclude.Include.NON_NULL) Double learningRate) {

    /** A feature of the main network. */
    public SparseFeature(String name, String column, int buckets, int dim, boolean multi, String separator) {
        this(name, column, buckets, dim, multi, separator, false, false, null, null);
    }

    /** As this with its rows' own step size ({@code learning_rate}; null: the optimizer's). */
    public SparseFeature withLearningRate(Double rate) {
        return new SparseFeature(name, column, buckets, dim, multi, separator, bias, elapsed, elapsedBy, rate);
    }

    /** A feature of the main network, or a bias feature. */
    public SparseFeature(
            String name, String column, int buckets, int dim, boolean multi, String separator, boolean bias) {
        this(name, column, buckets, dim, multi, separator, bias, false, null, null);
    }
}
