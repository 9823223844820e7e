package org.mmoestream.feature;

/**
 * A numeric feature that enters the model as one float after its transform.
 *
 * @param name feature name
 * @param column the CSV column (or event field) it is read from
 * @param transform how the raw value is transformed
 */
public record DenseFeature(String name, String column, DenseTransform transform) {}
