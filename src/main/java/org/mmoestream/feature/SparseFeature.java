package org.mmoestream.feature;

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
 */
public record SparseFeature(String name, String column, int buckets, int dim, boolean multi, String separator) {}
