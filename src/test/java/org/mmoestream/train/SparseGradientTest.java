package org.mmoestream.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** {@link SparseGradient}: the largest entries go, the rest is held back, and nothing is lost. */
class SparseGradientTest {
    private static final int N = 50_000;

    private static float[] gradient(Random r) {
        float[] g = new float[N];
        for (int i = 0; i < N; i++) {
            // Heavy-tailed, as a network's gradient: most entries small, a few large.
            g[i] = (float) (r.nextGaussian() * Math.exp(2 * r.nextGaussian()));
        }
        return g;
    }

    @Test
    void whatWasSentPlusWhatIsHeldBackIsEverySharesGradient() {
        Random r = new Random(1);
        SparseGradient s = new SparseGradient(0.02, 3);
        double[] total = new double[N];
        double[] sent = new double[N];
        double[] scale = new double[N];
        for (int share = 0; share < 20; share++) {
            int examples = 50 + share;
            float[] g = gradient(r);
            for (int i = 0; i < N; i++) {
                total[i] += (double) examples * g[i];
                scale[i] += Math.abs((double) examples * g[i]);
            }
            s.compress(g, N, examples);
            int[] ids = s.ids();
            float[] values = s.values();
            assertEquals(ids.length, values.length);
            for (int k = 0; k < ids.length; k++) {
                sent[ids[k]] += (double) values[k] * examples;
            }
        }
        for (int i = 0; i < N; i++) {
            // float32 sums: exact to a few units in the last place of the largest term.
            assertEquals(total[i], sent[i] + s.residual(i), 1e-6 * (1 + scale[i]), "entry " + i);
        }
    }

    @Test
    void aShareSendsAboutTheDensityOfTheLargestEntriesAndHoldsBackSmallerOnes() {
        Random r = new Random(2);
        SparseGradient s = new SparseGradient(0.05, 4);
        for (int share = 0; share < 5; share++) {
            s.compress(gradient(r), N, 10);
            int[] ids = s.ids();
            float[] values = s.values();
            assertTrue(ids.length > 0.025 * N && ids.length < 0.1 * N, ids.length + " of " + N + " sent");
            float smallestSent = Float.MAX_VALUE;
            for (int k = 0; k < ids.length; k++) {
                smallestSent = Math.min(smallestSent, Math.abs(values[k] * 10));
                if (k > 0) {
                    assertTrue(ids[k] > ids[k - 1], "ids ascend");
                }
                assertEquals(0f, s.residual(ids[k]), "a sent entry leaves nothing behind");
            }
            for (int i = 0; i < N; i++) {
                assertTrue(
                        Math.abs(s.residual(i)) <= smallestSent, "entry " + i + " held back is larger than one sent");
            }
        }
    }

    @Test
    void aZeroGradientSendsNothingAndDrainTakesWhatIsHeldBack() {
        SparseGradient s = new SparseGradient(0.1, 5);
        s.compress(new float[N], N, 8);
        assertEquals(0, s.ids().length);
        float[] g = gradient(new Random(3));
        s.compress(g, N, 8);
        boolean held = false;
        for (int i = 0; i < N && !held; i++) {
            held = s.residual(i) != 0;
        }
        assertTrue(held && s.holds(), "small entries are held back");
        float[] want = new float[N];
        for (int i = 0; i < N; i++) {
            want[i] = s.residual(i);
        }
        org.junit.jupiter.api.Assertions.assertArrayEquals(want, s.drain());
        assertTrue(!s.holds());
        for (int i = 0; i < N; i++) {
            assertEquals(0f, s.residual(i));
        }
    }

    @Test
    void aDensityOutsideZeroToOneIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new SparseGradient(0, 1));
        assertThrows(IllegalArgumentException.class, () -> new SparseGradient(1, 1));
        assertThrows(IllegalArgumentException.class, () -> new SparseGradient(Double.NaN, 1));
    }
}
