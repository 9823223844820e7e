package org.mmoestream.feature;

import java.nio.charset.StandardCharsets;
import org.apache.commons.codec.digest.MurmurHash3;

/**
 * Maps a raw categorical value to an embedding row exactly as DESIGN.md specifies, so any runtime
 * can reproduce it: {@code floorMod(murmur3_x86_32(utf8(value), seed 0), buckets)}. A JSON number
 * is written as an integer when whole, else in {@link Double#toString(double)} form; a missing
 * value hashes the empty string.
 */
public final class FeatureHasher {

    private FeatureHasher() {}

    /** Row id of {@code value} (null means missing) in a table of {@code buckets} rows. */
    public static int bucket(String value, int buckets) {
        byte[] bytes = (value == null ? "" : value).getBytes(StandardCharsets.UTF_8);
        return Math.floorMod(MurmurHash3.hash32x86(bytes, 0, bytes.length, 0), buckets);
    }

    /** The canonical string form of a number given to a sparse feature. */
    public static String numberText(double v) {
        if (v == Math.rint(v) && !Double.isInfinite(v) && Math.abs(v) < 1e18) {
            return Long.toString((long) v);
        }
        return Double.toString(v);
    }
}
