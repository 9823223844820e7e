package org.mmoestream.feature;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.mmoestream.testing.TestSpecs;

class FeatureEncoderTest {
    private final FeatureEncoder enc = new FeatureEncoder(TestSpecs.smallFeatures());

    @Test
    void hashingFollowsTheDesignFormula() {
        // murmur3_x86_32("hello", seed 0) = 0x248bfa47, the reference test vector.
        assertEquals(Math.floorMod(0x248bfa47, 1000), FeatureHasher.bucket("hello", 1000));
        // A missing value hashes the empty string, whose murmur3 with seed 0 is 0.
        assertEquals(0, FeatureHasher.bucket(null, 7));
        assertEquals("42", FeatureHasher.numberText(42.0));
        assertEquals("0.5", FeatureHasher.numberText(0.5));
        assertArrayEquals(enc.sparse(0, "42"), enc.sparse(0, 42));
    }

    @Test
    void multiValuedFeaturesSplitAndAcceptLists() {
        int[] fromCell = enc.sparse(2, "a|b|c");
        assertEquals(3, fromCell.length);
        assertArrayEquals(fromCell, enc.sparse(2, List.of("a", "b", "c")));
        assertEquals(1, enc.sparse(2, List.of()).length);
        assertThrows(IllegalArgumentException.class, () -> enc.sparse(0, List.of("a", "b")));
    }

    @Test
    void denseTransformsAndMissingValues() {
        assertEquals(Math.log1p(3.0), enc.dense(0, "3"), 1e-15);
        assertEquals(0.0, enc.dense(0, null));
        assertTrue(Double.isNaN(enc.dense(1, "")), "standardize: missing stays NaN for the model");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> enc.dense(1, "abc"));
        assertTrue(e.getMessage().contains("'abc'"));
        assertThrows(IllegalArgumentException.class, () -> enc.dense(1, "NaN"));
        assertThrows(IllegalArgumentException.class, () -> enc.dense(0, "-2"));
    }
}
