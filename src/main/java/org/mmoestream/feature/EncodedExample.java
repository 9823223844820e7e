package org.mmoestream.feature;

/**
 * One example after encoding: per sparse feature its row ids (at least one: a missing value hashes
 * the empty string), the dense values after {@code none}/{@code log1p} (standardization is the
 * model's, since its statistics are model state), and per task its 0/1 label (null when unlabeled).
 */
public record EncodedExample(int[][] sparseIds, double[] dense, float[] labels) {}
