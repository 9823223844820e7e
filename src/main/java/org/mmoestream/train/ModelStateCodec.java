package org.mmoestream.train;

import java.util.List;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.NdAccess;
import org.mmoestream.model.ServingAverage;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A model's dense part as the flat primitive arrays of Flink state, and back: the dense
 * parameters (followed by their serving average when the model has one) and their optimizer
 * state (float32), the dense-feature statistics (count, mean and variance per feature), and the
 * counters (optimizer step, examples, skipped batches, then the caller's version counters). The
 * only place where these copies are made.
 */
final class ModelStateCodec {
    private ModelStateCodec() {}

    static float[] dense(MmoeModel m) {
        NdAccess p = m.network().paramAccess();
        int n = p.length();
        ServingAverage average = m.servingAverage();
        float[] out = new float[average == null ? n : 2 * n];
        p.readFloats(0, out, 0, n);
        if (average != null) {
            average.values().readFloats(0, out, n, n);
        }
        return out;
    }

    /**
     * Sets the model's serving average to the one in {@code dense} (as {@link #dense} returns it),
     * when it has one and so does the model; a model whose state was written without one starts its
     * average at its parameters.
     */
    static void restoreAverage(MmoeModel m, float[] dense) {
        int n = m.network().paramAccess().length();
        if (m.servingAverage() != null && dense.length == 2 * n) {
            m.servingAverage().restore(dense, n);
        }
    }

    /** Every optimizer state slot of the dense parameters, one after the other. */
    static float[] denseOptimizer(MmoeModel m) {
        List<INDArray> slots = m.denseOptimizerState();
        int n = m.network().paramAccess().length();
        float[] out = new float[n * slots.size()];
        for (int s = 0; s < slots.size(); s++) {
            NdAccess.of(slots.get(s)).readFloats(0, out, s * n, n);
        }
        return out;
    }

    static double[] stats(MmoeModel m) {
        int nd = m.spec().features().dense().size();
        double[] stats = new double[3 * nd];
        for (int i = 0; i < nd; i++) {
            stats[3 * i] = m.normalizer().count(i);
            stats[3 * i + 1] = m.normalizer().mean(i);
            stats[3 * i + 2] = m.normalizer().variance(i);
        }
        return stats;
    }

    /** The model's counters followed by {@code extra}. */
    static long[] counters(MmoeModel m, long... extra) {
        long[] c = new long[3 + extra.length];
        c[0] = m.step();
        c[1] = m.examplesSeen();
        c[2] = m.skippedBatches();
        System.arraycopy(extra, 0, c, 3, extra.length);
        return c;
    }

    /** Sets the model's dense part and counters from what the methods above returned. */
    static void restore(MmoeModel m, float[] dense, float[] optimizer, double[] stats, long[] counters) {
        writeDense(m, dense, optimizer);
        for (int i = 0; i < stats.length / 3; i++) {
            m.normalizer().set(i, stats[3 * i], stats[3 * i + 1], stats[3 * i + 2]);
        }
        m.restoreCounters(counters[0], counters[1], counters[2]);
    }

    /**
     * Sets the dense parameters and their optimizer state (as {@link #dense} and {@link #denseOptimizer} return
     * them).
     */
    static void writeDense(MmoeModel m, float[] dense, float[] optimizer) {
        int n = m.network().paramAccess().length();
        m.network().paramAccess().writeFloats(0, dense, 0, n);
        List<INDArray> slots = m.denseOptimizerState();
        for (int s = 0; s < slots.size(); s++) {
            NdAccess.of(slots.get(s)).writeFloats(0, optimizer, s * n, n);
        }
    }
}
