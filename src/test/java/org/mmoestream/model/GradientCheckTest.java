package org.mmoestream.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.mmoestream.testing.TestSpecs;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Central finite differences against the analytic gradient, in float64, for every parameter group
 * (each embedding table, each expert, gate and tower layer) of every variant, with and without
 * ESMM, with and without gate hidden layers, and for generic unmasked tasks; and with the
 * fake-negative weights of early feedback (held constant, as the loss defines them) on a batch in
 * which some rows carry no label for some tasks (NaN: a later click or conversion); and with gate
 * dropout and unit dropout (of experts and towers), whose masks a training pass draws from the
 * model's seed, step and batch, so every pass of the check sees the same masks; and with fixed
 * task weights and learned uncertainty weights
 * (the log-variances' own gradient included); and with a regression task (mean squared error, or
 * log-normal with its learned log-variance) beside ESMM's; and with the bias tower (its weights and
 * the bias feature's embedding table); and with tanh and sigmoid hidden layers, with and without
 * dropout; and with batch normalization, on a batch large enough for its own statistics and on a
 * small one that uses the running statistics.
 */
class GradientCheckTest {
    private static final double H = 1e-5;
    /**
     * The step for stacked PLE with batch normalization: normalization on two levels curves the loss
     * so that at H the central difference's own error (h^2 f''' / 6) reaches 1e-4 of the gradient
     * (116 of 869 entries at 1e-4, 19 at 1e-5, none at 1e-6).
     */
    private static final double H_CURVED = 1e-6;

    private static final double MAX_REL_ERROR = 1e-4;
    private static final int SAMPLES_PER_GROUP = 12;

    static Stream<Arguments> specs() {
        List<Arguments> out = new ArrayList<>();
        for (Variant v : Variant.values()) {
            for (boolean esmm : new boolean[] {false, true}) {
                out.add(Arguments.of(v + (esmm ? "+esmm" : ""), TestSpecs.ctrCvr(v, esmm, List.of()), false));
            }
            out.add(Arguments.of(v + "+generic", TestSpecs.generic(v), false));
        }
        out.add(Arguments.of("mmoe+gate-hidden", TestSpecs.ctrCvr(Variant.MMOE, true, List.of(4)), false));
        out.add(Arguments.of("omoe+gate-hidden", TestSpecs.ctrCvr(Variant.OMOE, false, List.of(4)), false));
        out.add(Arguments.of("ple+gate-hidden", TestSpecs.ctrCvr(Variant.PLE, true, List.of(4)), false));
        for (List<Integer> gateHidden : List.of(List.<Integer>of(), List.of(4))) {
            for (Variant v : List.of(Variant.MMOE, Variant.PLE)) {
                ModelSpec s = TestSpecs.ctrCvr(v, true, gateHidden);
                out.add(Arguments.of(
                        v + "+gate-dropout" + (gateHidden.isEmpty() ? "" : "+gate-hidden"),
                        s.withArchitecture(s.architecture().withGateDropout(0.4)),
                        false));
            }
        }
        for (Variant v : List.of(Variant.MMOE, Variant.PLE, Variant.SHARED_BOTTOM)) {
            ModelSpec s = TestSpecs.ctrCvr(v, true, List.of(4));
            Architecture a = s.architecture().withDropout(0.3);
            out.add(Arguments.of(
                    v + "+dropout",
                    s.withArchitecture(v == Variant.SHARED_BOTTOM ? a : a.withGateDropout(0.3)),
                    false));
        }
        for (Variant v : List.of(Variant.MMOE, Variant.SHARED_BOTTOM)) {
            ModelSpec s = TestSpecs.ctrCvr(v, true, List.of(4));
            out.add(Arguments.of(v + "+bn", s.withArchitecture(s.architecture().withBatchNorm(true)), false));
            out.add(Arguments.of(
                    v + "+bn+dropout",
                    s.withArchitecture(s.architecture().withBatchNorm(true).withDropout(0.3)),
                    false));
            out.add(Arguments.of(
                    v + "+bn+small", s.withArchitecture(s.architecture().withBatchNorm(true)), false));
        }
        for (Activation act : List.of(Activation.TANH, Activation.SIGMOID)) {
            ModelSpec s = TestSpecs.ctrCvr(Variant.MMOE, true, List.of(4));
            Architecture a = s.architecture().withActivation(act);
            out.add(Arguments.of("mmoe+" + act, s.withArchitecture(a), false));
            out.add(Arguments.of("mmoe+" + act + "+dropout", s.withArchitecture(a.withDropout(0.3)), false));
        }
        for (boolean esmm : new boolean[] {false, true}) {
            ModelSpec s = weighted(TestSpecs.ctrCvr(Variant.MMOE, esmm, List.of()));
            out.add(Arguments.of("mmoe" + (esmm ? "+esmm" : "") + "+task-weights", s, false));
            out.add(Arguments.of(
                    "mmoe" + (esmm ? "+esmm" : "") + "+uncertainty",
                    s.withArchitecture(s.architecture().withUncertaintyWeighting(true)),
                    esmm));
        }
        for (TaskSpec.Loss loss : List.of(TaskSpec.Loss.MSE, TaskSpec.Loss.LOGNORMAL)) {
            ModelSpec s = TestSpecs.ctrCvrValue(Variant.MMOE, true, loss);
            out.add(Arguments.of("mmoe+esmm+value-" + loss, s, false));
            out.add(Arguments.of(
                    "mmoe+esmm+value-" + loss + "+uncertainty+fnw",
                    s.withArchitecture(s.architecture().withUncertaintyWeighting(true)),
                    true));
        }
        out.add(Arguments.of("mmoe+esmm+bias-tower", TestSpecs.ctrCvrWithBias(true, java.util.Map.of()), false));
        out.add(Arguments.of("mmoe+bias-tower+fnw", TestSpecs.ctrCvrWithBias(false, java.util.Map.of()), true));
        ModelSpec generic = TestSpecs.generic(Variant.MMOE);
        out.add(Arguments.of(
                "mmoe+generic+uncertainty",
                generic.withArchitecture(generic.architecture().withUncertaintyWeighting(true)),
                false));
        out.add(Arguments.of("mmoe+esmm+defer", TestSpecs.ctrCvr(Variant.MMOE, true, List.of()), true));
        out.add(Arguments.of("mmoe+defer", TestSpecs.ctrCvr(Variant.MMOE, false, List.of()), true));
        out.add(Arguments.of("mmoe+esmm+fnw", TestSpecs.ctrCvr(Variant.MMOE, true, List.of()), true));
        out.add(Arguments.of("mmoe+fnw", TestSpecs.ctrCvr(Variant.MMOE, false, List.of()), true));
        // ES-DFM: the delay heads' predictions weight the rows of their event's tasks.
        out.add(Arguments.of(
                "mmoe+esmm+es-dfm",
                TestSpecs.ctrCvr(Variant.MMOE, true, List.of())
                        .withDelayHeads(TaskSpec.CONVERSION)
                        .withDelayHeads(TaskSpec.CLICK),
                true));
        out.add(Arguments.of(
                "mmoe+es-dfm",
                TestSpecs.ctrCvr(Variant.MMOE, false, List.of()).withDelayHeads(TaskSpec.CONVERSION),
                true));
        // DEFER at a window above 0: the delayed heads' predictions weight the rows of their event's tasks.
        out.add(Arguments.of(
                "mmoe+esmm+defer-window",
                TestSpecs.ctrCvr(Variant.MMOE, true, List.of())
                        .withDelayHeads(TaskSpec.CONVERSION)
                        .withDelayHeads(TaskSpec.CLICK),
                true));
        // Stacked PLE: levels above the first read the mixtures of the one below.
        ModelSpec ple = TestSpecs.ctrCvr(Variant.PLE, true, List.of());
        out.add(Arguments.of("ple+levels2", levels(ple, 1, 1, 2), false));
        out.add(Arguments.of("ple+levels3+2-shared+2-own", levels(ple, 2, 2, 3), false));
        ModelSpec pleHidden = levels(TestSpecs.ctrCvr(Variant.PLE, false, List.of(4)), 1, 1, 2);
        out.add(Arguments.of("ple+levels2+gate-hidden", pleHidden, false));
        out.add(Arguments.of(
                "ple+levels2+gate-hidden+dropout",
                pleHidden.withArchitecture(
                        pleHidden.architecture().withDropout(0.3).withGateDropout(0.3)),
                false));
        out.add(Arguments.of(
                "ple+levels2+bn",
                ple.withArchitecture(levels(ple, 1, 1, 2).architecture().withBatchNorm(true)),
                false));
        out.add(Arguments.of("ple+levels2+generic", levels(TestSpecs.generic(Variant.PLE), 1, 1, 2), false));
        out.add(Arguments.of(
                "ple+levels2+fnw", levels(TestSpecs.ctrCvr(Variant.PLE, false, List.of()), 1, 2, 2), true));
        return out.stream();
    }

    /** {@code spec} as PLE with {@code shared} shared experts, {@code own} per task and {@code levels} levels. */
    private static ModelSpec levels(ModelSpec spec, int shared, int own, int levels) {
        int experts = shared + spec.tasks().size() * own;
        return spec.withArchitecture(spec.architecture().toBuilder()
                .ple(shared, own, levels)
                .experts(experts)
                .build());
    }

    /** {@code spec} with task weights 0.3 and 2.5. */
    private static ModelSpec weighted(ModelSpec spec) {
        List<TaskSpec> tasks =
                List.of(spec.tasks().get(0).withWeight(0.3), spec.tasks().get(1).withWeight(2.5));
        return new ModelSpec(spec.name(), spec.features(), tasks, spec.architecture(), spec.optimizer(), spec.csv());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("specs")
    void analyticGradientMatchesFiniteDifferences(String name, ModelSpec spec, boolean fnw) {
        MmoeModel model = MmoeModel.create(spec, 7, DataType.DOUBLE);
        // The early-feedback cases weight rows as FNW does, or as DEFER does where the name says so.
        model.useFeedbackWeights(
                !fnw
                        ? Objective.Weights.NONE
                        : name.contains("defer")
                                ? Objective.Weights.DEFER
                                : name.contains("es-dfm") ? Objective.Weights.ES_DFM : Objective.Weights.FAKE_NEGATIVE);
        // Biases start at 0, which puts rows whose input is all zero exactly on a ReLU kink, where
        // the loss has no derivative; check at a generic point instead.
        java.util.Random rnd = new java.util.Random(3);
        for (ParamLayout.Entry e : model.network().layout().entries()) {
            if (!e.weight()) {
                // Batch normalization's scale and running variance near 1 (a variance must stay positive).
                boolean nearOne = e.name().endsWith("bn.gamma") || e.name().endsWith("bn.running_var");
                for (int i = e.offset(); i < e.offset() + e.size(); i++) {
                    model.network().paramAccess().set(i, (nearOne ? 1 : 0) + 0.2 * rnd.nextDouble() - 0.1);
                }
            }
        }
        for (int t = 0; t < spec.tasks().size(); t++) {
            ParamLayout.Entry tv = model.network().taskLogVariance(t);
            if (tv != null) {
                model.network().paramAccess().set(tv.offset(), 0.4);
            }
        }
        if (model.network().logVariance() != null) {
            // Log-variances away from 0, where exp(-s) is 1 and a missing factor would go unseen.
            ParamLayout.Entry lv = model.network().logVariance();
            for (int t = 0; t < lv.size(); t++) {
                model.network().paramAccess().set(lv.offset() + t, 0.7 - 0.9 * t);
            }
        }
        // Warm the statistics so standardization is not the identity.
        model.normalizer().update(TestSpecs.batch(spec, 16, 1));
        // Batch normalization uses the batch's statistics from 16 rows on, the running ones below.
        Batch batch = TestSpecs.batch(spec, spec.architecture().batchNorm() && !name.endsWith("small") ? 24 : 9, 2);
        if (fnw) {
            // Rows 0-2 as later conversions (no click news), rows 3-5 as later clicks (no conversion news).
            int ctr = spec.taskIndex("ctr");
            int cvr = spec.taskIndex("cvr");
            for (int r = 0; r < 3; r++) {
                batch.labels[ctr][r] = Float.NaN;
                batch.labels[cvr][r] = 1;
                batch.labels[ctr][r + 3] = 1;
                batch.labels[cvr][r + 3] = spec.architecture().esmm() ? Float.NaN : 0;
            }
        }
        MmoeNetwork.Buffers buf = model.forward(batch);
        double[] weights =
                fnw ? model.objective().fakeNegativeWeights(buf.logits().clone(), batch) : null;
        model.computeGradients(batch, buf);
        NdAccess grads = model.network().gradAccess();
        double[] analytic = new double[grads.length()];
        grads.read(0, analytic, 0, analytic.length);
        Embeddings.RowGradients[] rowGrads = model.embeddingGradients(batch);

        Set<String> groups = new HashSet<>();
        NdAccess params = model.network().paramAccess();
        double h = spec.architecture().levels() > 1 && spec.architecture().batchNorm() ? H_CURVED : H;
        for (ParamLayout.Entry e : model.network().layout().entries()) {
            groups.add(e.name());
            if (e.name().endsWith("bn.running_mean") || e.name().endsWith("bn.running_var")) {
                // Statistics, not learned by gradient (it is 0 by definition, and no optimizer moves them);
                // a small batch's loss depends on them, as a serving pass does.
                assertEquals(0.0, analytic[e.offset()], e.name());
                continue;
            }
            int step = Math.max(1, e.size() / SAMPLES_PER_GROUP);
            for (int i = e.offset(); i < e.offset() + e.size(); i += step) {
                check(model, batch, weights, params, i, analytic[i], e.name() + "[" + (i - e.offset()) + "]", h);
            }
        }
        Embeddings emb = model.embeddings();
        for (int f = 0; f < emb.count(); f++) {
            Embeddings.RowGradients g = rowGrads[f];
            int dim = emb.feature(f).dim();
            assertTrue(g.count() > 0, "feature " + f + " has touched rows");
            for (int i = 0; i < g.count(); i++) {
                for (int k = 0; k < dim; k++) {
                    int idx = g.row(i) * dim + k;
                    check(
                            model,
                            batch,
                            weights,
                            emb.tableAccess(f),
                            idx,
                            g.value(i, k),
                            "embedding." + emb.feature(f).name() + "[" + g.row(i) + "," + k + "]",
                            h);
                }
            }
            groups.add("embedding." + emb.feature(f).name());
        }
        // Every tensor of the layout and every table was checked.
        assertEquals(model.network().layout().entries().size() + emb.count(), groups.size());
    }

    private static void check(
            MmoeModel model,
            Batch batch,
            double[] weights,
            NdAccess a,
            int index,
            double analytic,
            String what,
            double h) {
        double orig = a.get(index);
        a.set(index, orig + h);
        double plus = model.loss(batch, weights);
        a.set(index, orig - h);
        double minus = model.loss(batch, weights);
        a.set(index, orig);
        double numeric = (plus - minus) / (2 * h);
        // Below 1e-6 the relative error measures round-off of the finite difference, not the gradient.
        double denom = Math.max(Math.max(Math.abs(analytic), Math.abs(numeric)), 1e-6);
        double rel = Math.abs(analytic - numeric) / denom;
        assertTrue(rel <= MAX_REL_ERROR, what + ": analytic " + analytic + " numeric " + numeric + " rel error " + rel);
    }
}
