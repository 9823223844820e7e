package org.mmoestream.feature;

import java.util.List;

/**
 * Turns raw feature values, from a CSV cell or a JSON event, into model inputs: row ids for sparse
 * features and floats for dense ones. Values are strings, numbers, lists of strings (multi-valued)
 * or null (missing). A value that cannot be encoded raises an {@link IllegalArgumentException}
 * whose message says what is wrong with it; the caller adds where it came from.
 */
public final class FeatureEncoder {
    private final FeatureSpec spec;

    public FeatureEncoder(FeatureSpec spec) {
        this.spec = spec;
    }

    public FeatureSpec spec() {
        return spec;
    }

    /** Row ids of sparse feature {@code f}: one per value, at least one (missing hashes ""). */
    public int[] sparse(int f, Object value) {
        SparseFeature sf = spec.sparse().get(f);
        if (value instanceof List<?> list) {
            if (!sf.multi() && list.size() != 1) {
                throw new IllegalArgumentException("is a list but the feature is not multi-valued");
            }
            if (list.isEmpty()) {
                return new int[] {FeatureHasher.bucket(null, sf.buckets())};
            }
            int[] ids = new int[list.size()];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = FeatureHasher.bucket(scalarText(list.get(i)), sf.buckets());
            }
            return ids;
        }
        String text = scalarText(value);
        if (sf.multi() && text != null && !text.isEmpty()) {
            String[] parts = text.split(java.util.regex.Pattern.quote(sf.separator()), -1);
            int[] ids = new int[parts.length];
            for (int i = 0; i < parts.length; i++) {
                ids[i] = FeatureHasher.bucket(parts[i], sf.buckets());
            }
            return ids;
        }
        return new int[] {FeatureHasher.bucket(text, sf.buckets())};
    }

    private static String scalarText(Object v) {
        if (v == null) {
            return null;
        }
        if (v instanceof Number n) {
            double d = n.doubleValue();
            if (!Double.isFinite(d)) {
                throw new IllegalArgumentException("is not a finite number");
            }
            return FeatureHasher.numberText(d);
        }
        if (v instanceof String s) {
            return s;
        }
        if (v instanceof Boolean b) {
            return b.toString();
        }
        throw new IllegalArgumentException("must be a string, a number or a list of strings");
    }

    /**
     * Value of dense feature {@code f} after {@code none}/{@code log1p}; a missing value is 0, or
     * NaN for {@code standardize} (the model maps it to 0 after standardization).
     */
    public double dense(int f, Object value) {
        DenseFeature df = spec.dense().get(f);
        if (value == null || (value instanceof String s && s.isEmpty())) {
            return df.transform() == DenseTransform.STANDARDIZE ? Double.NaN : 0.0;
        }
        double x = number(value);
        if (df.transform() == DenseTransform.LOG1P) {
            if (x <= -1) {
                throw new IllegalArgumentException("must be > -1 for log1p, got " + x);
            }
            return Math.log1p(x);
        }
        return x;
    }

    /**
     * A present value (a number, or a number as text) as a finite double; IllegalArgumentException
     * saying why not.
     */
    public static double number(Object value) {
        double x;
        if (value instanceof Number n) {
            x = n.doubleValue();
        } else if (value instanceof String s) {
            try {
                x = Double.parseDouble(s);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("is not a number: '" + s + "'");
            }
        } else {
            throw new IllegalArgumentException("must be a number");
        }
        if (!Double.isFinite(x)) {
            throw new IllegalArgumentException("is not a finite number: '" + value + "'");
        }
        return x;
    }
}
