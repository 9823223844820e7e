package org.mmoestream.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.mmoestream.testing.TestSpecs;
import org.nd4j.linalg.api.buffer.DataType;

/** A step computed on several threads ({@link MmoeModel#useThreads}) is the step of one thread. */
class ParallelStepTest {

    static Stream<Arguments> specs() {
        List<Arguments> out = new ArrayList<>();
        out.add(Arguments.of("mmoe+esmm", TestSpecs.ctrCvr(Variant.MMOE, true, List.of()), Objective.Weights.NONE));
        // CVR over clicked rows only: its mean is over the batch's clicked rows, not a slice's.
        out.add(Arguments.of(
                "mmoe+masked+fnw", TestSpecs.ctrCvr(Variant.MMOE, false, List.of()), Objective.Weights.FAKE_NEGATIVE));
        ModelSpec esmm = TestSpecs.ctrCvr(Variant.MMOE, true, List.of(4));
        out.add(Arguments.of(
                "mmoe+esmm+uncertainty+defer",
                esmm.withArchitecture(esmm.architecture().withUncertaintyWeighting(true)),
                Objective.Weights.DEFER));
        ModelSpec value = TestSpecs.ctrCvrValue(Variant.MMOE, true, TaskSpec.Loss.LOGNORMAL);
        out.add(Arguments.of(
                "mmoe+esmm+lognormal+uncertainty+fnw",
                value.withArchitecture(value.architecture().withUncertaintyWeighting(true)),
                Objective.Weights.FAKE_NEGATIVE));
        out.add(Arguments.of(
                "mmoe+bias-tower+fnw",
                TestSpecs.ctrCvrWithBias(false, java.util.Map.of()),
                Objective.Weights.FAKE_NEGATIVE));
        ModelSpec ple = TestSpecs.ctrCvr(Variant.PLE, true, List.of());
        out.add(Arguments.of(
                "ple+levels2",
                ple.withArchitecture(
                        ple.architecture().toBuilder().ple(1, 1, 2).experts(3).build()),
                Objective.Weights.NONE));
        out.add(Arguments.of("generic", TestSpecs.generic(Variant.MMOE), Objective.Weights.NONE));
        // Weight decay and a clipped global norm: the threads' parts of the norm add up to one thread's.
        for (org.mmoestream.model.optim.OptimizerConfig.Kind kind :
                org.mmoestream.model.optim.OptimizerConfig.Kind.values()) {
            org.mmoestream.model.optim.OptimizerConfig d = org.mmoestream.model.optim.OptimizerConfig.defaults(kind);
            out.add(Arguments.of(
                    "mmoe+esmm+" + kind + "+l2+clip",
                    TestSpecs.ctrCvr(Variant.MMOE, true, List.of())
                            .withOptimizer(new org.mmoestream.model.optim.OptimizerConfig(
                                    kind,
                                    d.learningRate(),
                                    d.beta1(),
                                    d.beta2(),
                                    d.epsilon(),
                                    d.initialAccumulator(),
                                    0.01,
                                    0.05,
                                    0,
                                    0)),
                    Objective.Weights.NONE));
        }
        return out.stream();
    }

    /** Batches of {@code rows}, with labels an early feedback mode leaves NaN on some rows when {@code nan}. */
    private static List<Batch> batches(ModelSpec spec, int count, int rows, boolean nan) {
        List<Batch> out = new ArrayList<>();
        int ctr = spec.taskIndex("ctr");
        int cvr = spec.taskIndex("cvr");
        for (int i = 0; i < count; i++) {
            Batch b = TestSpecs.batch(spec, rows, 100 + i);
            if (nan && ctr >= 0 && cvr >= 0) {
                // Some rows as later conversions (no click news), some as later clicks (no conversion news),
                // unevenly over the batch, so that the slices count different rows per task.
                for (int r = 0; r < rows / 3; r++) {
                    b.labels[ctr][r] = Float.NaN;
                }
                for (int r = rows / 2; r < rows / 2 + rows / 8; r++) {
                    b.labels[cvr][r] = Float.NaN;
                }
            }
            out.add(b);
        }
        return out;
    }

    private static double[] dense(MmoeModel m) {
        NdAccess a = m.network().paramAccess();
        double[] out = new double[a.length()];
        a.read(0, out, 0, out.length);
        return out;
    }

    private static double[] tables(MmoeModel m) {
        List<Double> all = new ArrayList<>();
        for (int t = 0; t < m.embeddings().count(); t++) {
            NdAccess a = m.embeddings().tableAccess(t);
            double[] v = new double[a.length()];
            a.read(0, v, 0, v.length);
            for (double x : v) {
                all.add(x);
            }
        }
        return all.stream().mapToDouble(Double::doubleValue).toArray();
    }

    private static void assertClose(double[] expected, double[] actual, double tol, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            double scale = Math.max(1, Math.abs(expected[i]));
            assertTrue(
                    Math.abs(expected[i] - actual[i]) <= tol * scale,
                    what + " " + i + ": " + expected[i] + " against " + actual[i]);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("specs")
    void stepsOnThreadsEqualOneThread(String name, ModelSpec spec, Objective.Weights weights) {
        MmoeModel one = MmoeModel.create(spec, 5, DataType.DOUBLE);
        MmoeModel three = MmoeModel.create(spec, 5, DataType.DOUBLE);
        one.useFeedbackWeights(weights);
        three.useFeedbackWeights(weights);
        three.useThreads(3);
        try {
            GateStatistics gOne =
                    new GateStatistics(spec.tasks().size(), one.network().experts());
            GateStatistics gThree =
                    new GateStatistics(spec.tasks().size(), three.network().experts());
            boolean nan = weights != Objective.Weights.NONE;
            for (Batch b : batches(spec, 4, 100, nan)) {
                MmoeModel.StepResult a = one.trainStep(b);
                MmoeModel.StepResult c = three.trainStep(b);
                one.addGateStatistics(gOne, b.rows());
                three.addGateStatistics(gThree, b.rows());
                assertEquals(a.loss(), c.loss(), 1e-12 * Math.max(1, Math.abs(a.loss())), "loss");
                assertClose(a.taskLoss(), c.taskLoss(), 1e-12, "task loss");
                for (int h = 0; h < a.predictions().length; h++) {
                    assertClose(a.predictions()[h], c.predictions()[h], 1e-12, "prediction of head " + h);
                }
            }
            assertClose(dense(one), dense(three), 1e-10, "dense parameter");
            assertClose(tables(one), tables(three), 1e-10, "table entry");
            assertClose(gOne.sums(), gThree.sums(), 1e-9, "gate sum");
            assertEquals(one.examplesSeen(), three.examplesSeen());
            assertEquals(one.step(), three.step());
        } finally {
            three.close();
        }
    }

    @Test
    void float32StepsOnTwoThreadsFollowOneThread() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        MmoeModel two = MmoeModel.create(spec, 9, DataType.FLOAT);
        two.useThreads(2);
        assertSameTraining(MmoeModel.create(spec, 9, DataType.FLOAT), two, batches(spec, 6, 64, false), 1e-4);
    }

    /**
     * Trains {@code one} (on one thread) and {@code many} (on its threads) on the same batches,
     * compares them, and stops {@code many}'s threads.
     */
    private static void assertSameTraining(MmoeModel one, MmoeModel many, List<Batch> batches, double tol) {
        try {
            for (Batch b : batches) {
                one.trainStep(b);
                many.trainStep(b);
            }
            assertClose(dense(one), dense(many), tol, "dense parameter");
            assertClose(tables(one), tables(many), tol, "table entry");
        } finally {
            many.close();
        }
    }

    @Test
    void theThreadsReadTablesThatGrewAfterTheyStarted() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        int[] full = spec.features().sparse().stream()
                .mapToInt(org.mmoestream.feature.SparseFeature::buckets)
                .toArray();
        int[] half = java.util.Arrays.stream(full).map(n -> Math.max(1, n / 2)).toArray();
        MmoeModel one = MmoeModel.createCompact(spec, 5, DataType.FLOAT, half);
        MmoeModel two = MmoeModel.createCompact(spec, 5, DataType.FLOAT, half);
        // The threads start first; then the working set grows its tables as it takes in more ids.
        two.useThreads(2);
        for (MmoeModel m : List.of(one, two)) {
            for (int t = 0; t < full.length; t++) {
                m.embeddings().resize(t, full[t]);
            }
        }
        assertSameTraining(one, two, batches(spec, 3, 64, false), 1e-4);
    }

    @Test
    void aBatchTooSmallToSplitRunsOnTheCallingThread() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        MmoeModel one = MmoeModel.create(spec, 5, DataType.DOUBLE);
        MmoeModel four = MmoeModel.create(spec, 5, DataType.DOUBLE);
        four.useThreads(4);
        try {
            // 63 rows: under 16 a thread; 64: four slices of 16.
            for (Batch b : List.of(TestSpecs.batch(spec, 63, 1), TestSpecs.batch(spec, 64, 2))) {
                one.trainStep(b);
                four.trainStep(b);
            }
            assertClose(dense(one), dense(four), 1e-10, "dense parameter");
            assertEquals(4, four.threads());
        } finally {
            four.close();
        }
    }

    @Test
    void batchNormalizationTrainsOnOneThread() {
        ModelSpec s = TestSpecs.ctrCvr(Variant.MMOE, true, List.of(4));
        MmoeModel m = MmoeModel.create(s.withArchitecture(s.architecture().withBatchNorm(true)), 1, DataType.FLOAT);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.useThreads(2));
        assertTrue(e.getMessage().contains("batch normalization"), e.getMessage());
        m.useThreads(1);
        assertEquals(1, m.threads());
    }
}
