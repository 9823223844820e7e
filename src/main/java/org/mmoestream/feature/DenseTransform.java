package org.mmoestream.feature;

import java.util.Locale;

/**
 * How a dense feature's raw value becomes a model input. {@code STANDARDIZE} is streaming: the
 * model keeps a running mean and variance (Welford) that training updates.
 */
public enum DenseTransform {
    NONE,
    LOG1P,
    STANDARDIZE;

    /** The spelling used in spec files: {@code none}, {@code log1p}, {@code standardize}. */
    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Parses the spec spelling; returns null for an unknown name so the caller can name the key. */
    public static DenseTransform parse(String text) {
        for (DenseTransform t : values()) {
            if (t.key().equals(text)) {
                return t;
            }
        }
        return null;
    }
}
