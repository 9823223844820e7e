package org.mmoestream.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.optim.OptimizerConfig;
import org.mmoestream.testing.TestSpecs;
import org.nd4j.linalg.api.buffer.DataType;

class TrainStepTest {

    private static double[] dense(MmoeModel m) {
        NdAccess a = m.network().paramAccess();
        double[] out = new double[a.length()];
        a.read(0, out, 0, out.length);
        return out;
    }

    private static double[] table(MmoeModel m, int f) {
        NdAccess a = m.embeddings().tableAccess(f);
        double[] out = new double[a.length()];
        a.read(0, out, 0, out.length);
        return out;
    }

    @Test
    void sameSeedSameParametersAfterTraining() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        MmoeModel a = MmoeModel.create(spec, 11, DataType.FLOAT);
        MmoeModel b = MmoeModel.create(spec, 11, DataType.FLOAT);
        for (int i = 0; i < 5; i++) {
            Batch batch = TestSpecs.batch(spec, 32, i);
            a.trainStep(batch);
            b.trainStep(batch);
        }
        assertArrayEquals(dense(a), dense(b), 0);
        assertArrayEquals(table(a, 0), table(b, 0), 0);
        assertNotEquals(dense(a)[0], dense(MmoeModel.create(spec, 12, DataType.FLOAT))[0]);
    }

    /**
     * The conversions' scale (an experiment of {@code bench feedback}) weighs the loss of the rows
     * that converted only: a batch without a conversion trains as without it, a batch with some
     * otherwise; at 1 it changes nothing. Without ESMM, or at a scale not above 0, it is refused.
     */
    @Test
    void theConversionsScaleWeighsConvertedRowsOnly() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        int cvr = spec.objective().esmmConversionTask();
        List<EncodedExample> some = new java.util.ArrayList<>();
        List<EncodedExample> none = new java.util.ArrayList<>();
        List<EncodedExample> rows = TestSpecs.examples(spec, 32, 5);
        for (int r = 0; r < rows.size(); r++) {
            EncodedExample e = rows.get(r);
            float[] converted = e.labels().clone();
            converted[cvr] = r < 4 ? 1 : 0;
            converted[1 - cvr] = r < 4 ? 1 : converted[1 - cvr];
            some.add(new EncodedExample(e.sparseIds(), e.dense(), converted));
            float[] not = e.labels().clone();
            not[cvr] = 0;
            none.add(new EncodedExample(e.sparseIds(), e.dense(), not));
        }
        MmoeModel plain = MmoeModel.create(spec, 11, DataType.FLOAT);
        MmoeModel one = MmoeModel.create(spec, 11, DataType.FLOAT);
        MmoeModel twice = MmoeModel.create(spec, 11, DataType.FLOAT);
        one.scaleConversionPositives(1);
        twice.scaleConversionPositives(2);
        for (MmoeModel m : List.of(plain, one, twice)) {
            m.trainStep(Batch.of(none));
        }
        assertArrayEquals(dense(plain), dense(twice), 0);
        for (MmoeModel m : List.of(plain, one, twice)) {
            m.trainStep(Batch.of(some));
        }
        assertArrayEquals(dense(plain), dense(one), 0);
        assertNotEquals(java.util.Arrays.toString(dense(plain)), java.util.Arrays.toString(dense(twice)));
        assertThrows(IllegalArgumentException.class, () -> plain.scaleConversionPositives(0));
        MmoeModel withoutEsmm = MmoeModel.create(TestSpecs.ctrCvr(Variant.MMOE, false, List.of()), 11, DataType.FLOAT);
        assertThrows(IllegalArgumentException.class, () -> withoutEsmm.scaleConversionPositives(2));
    }

    @Test
    void sgdStepMovesEveryParameterByMinusLearningRateTimesGradient() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of())
                .withOptimizer(
                        OptimizerConfig.defaults(OptimizerConfig.Kind.SGD).withLearningRate(0.1));
        MmoeModel m = MmoeModel.create(spec, 3, DataType.DOUBLE);
        Batch batch = TestSpecs.batch(spec, 16, 4);
        // The step standardizes with statistics that include this batch; warm them the same way.
        m.normalizer().update(batch);
        MmoeModel probe = MmoeModel.create(spec, 3, DataType.DOUBLE);
        probe.normalizer().update(batch);
        probe.normalizer().update(batch);
        double[] before = dense(m);
        MmoeNetwork.Buffers buf = probe.forward(batch);
        probe.computeGradients(batch, buf);
        double[] g = new double[before.length];
        probe.network().gradAccess().read(0, g, 0, g.length);
        assertFalse(m.trainStep(batch).skipped());
        double[] after = dense(m);
        for (int i = 0; i < before.length; i++) {
            assertEquals(before[i] - 0.1 * g[i], after[i], 1e-12, "param " + i);
        }
    }

    /**
     * With scalePartialBatches(16), a batch of 4 rows moves every parameter a quarter as far as its
     * plain step (SGD: the step is linear in the gradient), and a full batch as far.
     */
    @Test
    void aPartialBatchTakesItsShareOfAFullBatchsStep() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of())
                .withOptimizer(
                        OptimizerConfig.defaults(OptimizerConfig.Kind.SGD).withLearningRate(0.1));
        for (int rows : new int[] {4, 16}) {
            Batch batch = TestSpecs.batch(spec, rows, 4);
            MmoeModel plain = MmoeModel.create(spec, 3, DataType.DOUBLE);
            MmoeModel scaled = MmoeModel.create(spec, 3, DataType.DOUBLE);
            scaled.scalePartialBatches(16);
            double[] before = dense(plain);
            double[] beforeRows = table(plain, 1);
            plain.trainStep(batch);
            scaled.trainStep(batch);
            double share = rows / 16.0;
            double[] p = dense(plain);
            double[] s = dense(scaled);
            double moved = 0;
            for (int i = 0; i < before.length; i++) {
                assertEquals(share * (p[i] - before[i]), s[i] - before[i], 1e-12, rows + " rows, param " + i);
                moved += Math.abs(p[i] - before[i]);
            }
            assertTrue(moved > 0);
            double[] pr = table(plain, 1);
            double[] sr = table(scaled, 1);
            for (int i = 0; i < pr.length; i++) {
                assertEquals(
                        share * (pr[i] - beforeRows[i]), sr[i] - beforeRows[i], 1e-7, rows + " rows, row value " + i);
            }
            assertEquals(rows, scaled.examplesSeen());
        }
    }

    /**
     * A feature's own {@code learning_rate} steps its embedding rows at that rate: under SGD, Adagrad
     * and Adam (whose first step is linear in the rate), in float64 and in float32 tables (the
     * trainers' type), they move three times as far at three times the optimizer's rate; every other
     * parameter takes the same step as without it.
     */
    @Test
    void aFeaturesOwnLearningRateStepsItsRowsOnly() {
        for (OptimizerConfig.Kind kind : OptimizerConfig.Kind.values()) {
            for (DataType type : List.of(DataType.DOUBLE, DataType.FLOAT)) {
                ownRateStepsItsRows(kind, type);
            }
        }
    }

    private static void ownRateStepsItsRows(OptimizerConfig.Kind kind, DataType type) {
        String what = kind + " " + type;
        ModelSpec plain = TestSpecs.ctrCvr(Variant.MMOE, true, List.of())
                .withOptimizer(OptimizerConfig.defaults(kind).withLearningRate(0.01));
        List<org.mmoestream.feature.SparseFeature> sparse =
                new java.util.ArrayList<>(plain.features().sparse());
        sparse.set(1, sparse.get(1).withLearningRate(0.03));
        ModelSpec own = plain.withFeatures(
                new org.mmoestream.feature.FeatureSpec(sparse, plain.features().dense()));
        MmoeModel a = MmoeModel.create(plain, 3, type);
        MmoeModel b = MmoeModel.create(own, 3, type);
        double[] before = table(a, 1);
        double[] otherBefore = table(a, 0);
        Batch batch = TestSpecs.batch(plain, 16, 4);
        a.trainStep(batch);
        b.trainStep(batch);
        assertArrayEquals(dense(a), dense(b), 0, what + ": the dense parameters");
        assertArrayEquals(table(a, 0), table(b, 0), 0, what + ": another feature's rows");
        assertNotEquals(
                java.util.Arrays.toString(otherBefore),
                java.util.Arrays.toString(table(a, 0)),
                what + ": the other feature's rows moved");
        double[] pa = table(a, 1);
        double[] pb = table(b, 1);
        // A float32 table rounds each value once, by a few 1e-9 at these values.
        double tolerance = type == DataType.DOUBLE ? 1e-12 : 1e-7;
        double moved = 0;
        for (int i = 0; i < before.length; i++) {
            assertEquals(3 * (pa[i] - before[i]), pb[i] - before[i], tolerance, what + ", row value " + i);
            moved += Math.abs(pa[i] - before[i]);
        }
        assertTrue(moved > 0, what + ": the batch touches the item's rows");
    }

    @Test
    void onlyTouchedEmbeddingRowsChange() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, false, List.of());
        MmoeModel m = MmoeModel.create(spec, 3, DataType.FLOAT);
        double[] before = table(m, 1);
        int[][] ids = {{0}, {2}, {1, 3}};
        EncodedExample e = new EncodedExample(ids, new double[] {1, 2}, new float[] {1, 1});
        m.trainStep(Batch.of(List.of(e)));
        double[] after = table(m, 1);
        int dim = spec.features().sparse().get(1).dim();
        for (int row = 0; row < before.length / dim; row++) {
            boolean changed = false;
            for (int k = 0; k < dim; k++) {
                changed |= before[row * dim + k] != after[row * dim + k];
            }
            assertEquals(row == 2, changed, "row " + row);
        }
    }

    @Test
    void nonFiniteBatchIsSkippedCountedAndLeavesParameters() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        MmoeModel m = MmoeModel.create(spec, 3, DataType.FLOAT);
        List<EncodedExample> rows = TestSpecs.examples(spec, 8, 1);
        EncodedExample bad = rows.get(3);
        rows.set(3, new EncodedExample(bad.sparseIds(), new double[] {Double.POSITIVE_INFINITY, 1}, bad.labels()));
        double[] before = dense(m);
        MmoeModel.StepResult r = m.trainStep(Batch.of(rows));
        assertTrue(r.skipped());
        assertEquals(1, m.skippedBatches());
        assertEquals(0, m.step());
        assertArrayEquals(before, dense(m), 0);
    }

    @Test
    void clippingBoundsTheUpdate() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        OptimizerConfig sgd = OptimizerConfig.defaults(OptimizerConfig.Kind.SGD);
        OptimizerConfig clipped = new OptimizerConfig(sgd.kind(), 1.0, 0, 0, 0, 0, 0, 1e-3, 0, 0);
        MmoeModel m = MmoeModel.create(spec.withOptimizer(clipped), 3, DataType.DOUBLE);
        double[] before = dense(m);
        m.trainStep(TestSpecs.batch(spec, 16, 2));
        double[] after = dense(m);
        double sq = 0;
        for (int i = 0; i < before.length; i++) {
            sq += (after[i] - before[i]) * (after[i] - before[i]);
        }
        // lr 1 x a gradient of global norm 1e-3: the dense part moves by at most 1e-3.
        assertTrue(Math.sqrt(sq) <= 1e-3 + 1e-12, "moved " + Math.sqrt(sq));
        assertTrue(Math.sqrt(sq) > 0);
    }

    @Test
    void trainingReducesTheLossOnALearnableSignal() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        MmoeModel m = MmoeModel.create(spec, 3, DataType.FLOAT);
        List<EncodedExample> rows = TestSpecs.examples(spec, 64, 9);
        // Make click depend on the user id so there is something to learn.
        List<EncodedExample> learnable = rows.stream()
                .map(e -> new EncodedExample(e.sparseIds(), e.dense(), new float[] {e.sparseIds()[0][0] % 2, 0}))
                .toList();
        Batch b = Batch.of(learnable);
        double first = m.loss(b);
        for (int i = 0; i < 1000; i++) {
            m.trainStep(b);
        }
        assertTrue(m.loss(b) < 0.25 * first, "loss " + first + " -> " + m.loss(b));
    }
}
