package org.mmoestream.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.mmoestream.feature.DenseFeature;
import org.mmoestream.feature.DenseTransform;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.feature.FeatureSpec;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.NdAccess;
import org.mmoestream.model.Variant;
import org.mmoestream.model.optim.OptimizerConfig;
import org.mmoestream.testing.TestSpecs;

class ModelAveragingTest {
    /** Plain SGD and no standardized dense feature, so that averaged steps are one step on the union. */
    private static final ModelSpec SPEC;

    static {
        ModelSpec s = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        SPEC = new ModelSpec(
                "test",
                new FeatureSpec(
                        s.features().sparse(), List.of(new DenseFeature("price", "price", DenseTransform.LOG1P))),
                s.tasks(),
                s.architecture(),
                OptimizerConfig.defaults(OptimizerConfig.Kind.SGD),
                s.csv());
    }

    /**
     * With SGD, the mean of two replicas' steps from one model is one step on both batches: averaged
     * every round, two replicas at batch 12 equal one trainer at batch 24. Averaged every second
     * round they do not.
     */
    @Test
    void averagedEveryRoundWithSgdIsOneTrainerOnTheUnion() {
        List<EncodedExample> xs = TestSpecs.examples(SPEC, 24 * 10, 5);
        MmoeModel one = ModelAveraging.train(SPEC, 7, xs, 24, 1, 1);
        MmoeModel two = ModelAveraging.train(SPEC, 7, xs, 12, 2, 1);
        double[] a = values(one);
        double[] b = values(two);
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            assertEquals(a[i], b[i], 2e-5 + 1e-5 * Math.abs(a[i]), "value " + i + " of " + a.length);
        }
        double[] c = values(ModelAveraging.train(SPEC, 7, xs, 12, 2, 2));
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - c[i]));
        }
        assertTrue(worst > 1e-3, "averaging every second round differs from one trainer: " + worst);
    }

    /**
     * With SGD, two replicas' changes from one model summed are both steps in full: summed every
     * round, two replicas at batch 12 equal one trainer at batch 24 with twice the learning rate.
     * Summed every second round, each replica's second step is on a model without the other's
     * first, and they do not.
     */
    @Test
    void deltasSummedEveryRoundWithSgdAreOneTrainerOnTheUnionAtTwiceTheRate() {
        List<EncodedExample> xs = TestSpecs.examples(SPEC, 24 * 10, 5);
        ModelSpec doubled = SPEC.withOptimizer(
                SPEC.optimizer().withLearningRate(2 * SPEC.optimizer().learningRate()));
        double[] a = values(ModelAveraging.train(doubled, 7, xs, 24, 1, 1));
        double[] b = values(ModelAveraging.train(SPEC, 7, xs, 12, 2, 1, ModelAveraging.Exchange.SUM));
        for (int i = 0; i < a.length; i++) {
            assertEquals(a[i], b[i], 2e-5 + 1e-5 * Math.abs(a[i]), "value " + i + " of " + a.length);
        }
        double[] c = values(ModelAveraging.train(SPEC, 7, xs, 12, 2, 2, ModelAveraging.Exchange.SUM));
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - c[i]));
        }
        assertTrue(worst > 1e-3, "summing every second round differs from one trainer: " + worst);
    }

    /** The dense parameters and every table's values. */
    private static double[] values(MmoeModel m) {
        NdAccess p = m.network().paramAccess();
        int dense = p.length();
        int total = dense;
        for (int f = 0; f < m.embeddings().count(); f++) {
            total += m.embeddings().tableAccess(f).length();
        }
        double[] out = new double[total];
        p.read(0, out, 0, dense);
        int at = dense;
        for (int f = 0; f < m.embeddings().count(); f++) {
            NdAccess t = m.embeddings().tableAccess(f);
            t.read(0, out, at, t.length());
            at += t.length();
        }
        return out;
    }
}
