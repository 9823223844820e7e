package org.mmoestream.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

class TaskMetricsTest {

    /** AUC by its definition: the fraction of positive-negative pairs ordered right, ties half. */
    private static double bruteForceAuc(double[] p, boolean[] y) {
        double wins = 0;
        long pairs = 0;
        for (int i = 0; i < p.length; i++) {
            for (int j = 0; j < p.length; j++) {
                if (y[i] && !y[j]) {
                    pairs++;
                    wins += p[i] > p[j] ? 1 : p[i] == p[j] ? 0.5 : 0;
                }
            }
        }
        return wins / pairs;
    }

    @Test
    void exactAucMatchesPairCountingWithTies() {
        Random rnd = new Random(5);
        int n = 600;
        double[] p = new double[n];
        boolean[] y = new boolean[n];
        TaskMetrics m = new TaskMetrics();
        BinnedAuc binned = new BinnedAuc(50);
        for (int i = 0; i < n; i++) {
            y[i] = rnd.nextDouble() < 0.3;
            // Rounded scores create many ties; positives score higher on average.
            p[i] = Math.round((rnd.nextDouble() * 0.7 + (y[i] ? 0.3 : 0)) * 20) / 20.0;
            m.add(p[i], y[i]);
            binned.add(p[i], y[i]);
        }
        double exact = bruteForceAuc(p, y);
        assertEquals(exact, m.auc(), 1e-12);
        assertTrue(
                Math.abs(binned.auc() - exact) <= binned.errorBound() + 1e-12,
                "binned " + binned.auc() + " exact " + exact + " bound " + binned.errorBound());
        assertTrue(binned.errorBound() > 0);
    }

    @Test
    void logLossAndCalibration() {
        TaskMetrics m = new TaskMetrics();
        m.add(0.8, true);
        m.add(0.2, false);
        m.add(0.5, true);
        m.add(0.1, false);
        assertEquals(-(Math.log(0.8) + Math.log(0.8) + Math.log(0.5) + Math.log(0.9)) / 4, m.logLoss(), 1e-12);
        assertEquals((1.6 / 4) / 0.5, m.calibration(), 1e-12);
        assertEquals(1.0, m.auc(), 1e-12);
    }

    /**
     * Exact AUC over more positives than an int's positives x (positives + 1) holds (46,341 and
     * up): a bench scores millions of impressions. Scores from a known order give a known AUC.
     */
    @Test
    void exactAucHoldsForMillionsOfRows() {
        TaskMetrics m = new TaskMetrics();
        int n = 200_000;
        // Positives score i, negatives i + 0.5 for i below n / 2, so each positive beats the
        // negatives of lower index: AUC = sum over positives i of i / (n * n) = (n - 1) / (2 n).
        for (int i = 0; i < n; i++) {
            m.add(i, true);
            m.add(i + 0.5, false);
        }
        assertEquals((n - 1) / (2.0 * n), m.auc(), 1e-9);
    }

    @Test
    void aucUndefinedWithOneClass() {
        TaskMetrics m = new TaskMetrics();
        m.add(0.3, true);
        assertTrue(Double.isNaN(m.auc()));
    }

    @Test
    void binnedAucSlidingRemoveRestoresState() {
        BinnedAuc b = new BinnedAuc(10);
        b.add(0.9, true);
        b.add(0.1, false);
        double before = b.auc();
        b.add(0.95, false);
        b.remove(0.95, false);
        assertEquals(before, b.auc(), 0);
        assertEquals(2, b.count());
    }
}
