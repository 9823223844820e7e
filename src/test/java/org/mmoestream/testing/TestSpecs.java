package org.mmoestream.testing;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.mmoestream.feature.CsvLayout;
import org.mmoestream.feature.DenseFeature;
import org.mmoestream.feature.DenseTransform;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.feature.FeatureSpec;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.model.Architecture;
import org.mmoestream.model.Batch;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.TaskSpec;
import org.mmoestream.model.Variant;
import org.mmoestream.model.optim.OptimizerConfig;

/** Small specs and random batches for model tests. */
public final class TestSpecs {
    private TestSpecs() {}

    /** Three sparse features (one multi-valued) and two dense ones (one standardized). */
    public static FeatureSpec smallFeatures() {
        return new FeatureSpec(
                List.of(
                        new SparseFeature("user", "user", 11, 3, false, null),
                        new SparseFeature("item", "item", 7, 4, false, null),
                        new SparseFeature("tags", "tags", 5, 2, true, "|")),
                List.of(
                        new DenseFeature("price", "price", DenseTransform.LOG1P),
                        new DenseFeature("age", "age", DenseTransform.STANDARDIZE)));
    }

    /** A ctr/cvr spec (cvr masked by ctr) with the given variant, ESMM switch and gate layers. */
    public static ModelSpec ctrCvr(Variant v, boolean esmm, List<Integer> gateHidden) {
        Architecture a = architecture(v, 3, List.of(6, 5), gateHidden, List.of(4), esmm, 2);
        return new ModelSpec(
                "test",
                smallFeatures(),
                List.of(TaskSpec.binary("ctr", "click", null), TaskSpec.binary("cvr", "conversion", "ctr")),
                a,
                OptimizerConfig.defaults(OptimizerConfig.Kind.ADAGRAD),
                CsvLayout.withHeader());
    }

    /**
     * An architecture of variant {@code v}; for PLE (CGC), one shared expert and one of each of the
     * {@code tasks} tasks instead of {@code experts}.
     */
    public static Architecture architecture(
            Variant v,
            int experts,
            List<Integer> expertHidden,
            List<Integer> gateHidden,
            List<Integer> towerHidden,
            boolean esmm,
            int tasks) {
        if (v == Variant.PLE) {
            return new Architecture(v, 1 + tasks, expertHidden, gateHidden, towerHidden, esmm, 1, 1, 1);
        }
        return new Architecture(v, experts, expertHidden, gateHidden, towerHidden, esmm);
    }

    /**
     * {@link #ctrCvr} with a third task, {@code value}: a regression on the conversion's value with
     * {@code loss}, over converted rows ({@code masked_by: cvr}).
     */
    public static ModelSpec ctrCvrValue(Variant v, boolean esmm, TaskSpec.Loss loss) {
        ModelSpec s = ctrCvr(v, esmm, List.of());
        List<TaskSpec> tasks = new ArrayList<>(s.tasks());
        tasks.add(new TaskSpec("value", "conversion", "cvr", java.util.Set.of(), java.util.Set.of(), null, 1.0, loss));
        Architecture a = architecture(v, 3, List.of(6, 5), List.of(), List.of(4), esmm, 3);
        return new ModelSpec(s.name(), s.features(), tasks, a, s.optimizer(), s.csv());
    }

    /**
     * {@link #ctrCvr} (MMoE) with a selection-bias feature {@code position} (6 buckets, dim 2) feeding
     * the bias tower, whose logit goes to ctr; {@code serving} its serving values.
     */
    public static ModelSpec ctrCvrWithBias(boolean esmm, java.util.Map<String, String> serving) {
        ModelSpec s = ctrCvr(Variant.MMOE, esmm, List.of());
        List<SparseFeature> sparse = new ArrayList<>(s.features().sparse());
        sparse.add(new SparseFeature("position", "position", 6, 2, false, "|", true));
        FeatureSpec fs = new FeatureSpec(sparse, s.features().dense());
        return new ModelSpec(
                s.name(),
                fs,
                s.tasks(),
                s.architecture().withBiasTower(new org.mmoestream.model.BiasTower(List.of("ctr"), serving)),
                s.optimizer(),
                s.csv());
    }

    /** A spec with three generic unmasked tasks. */
    public static ModelSpec generic(Variant v) {
        Architecture a = architecture(v, 2, List.of(5), List.of(), List.of(3), false, 3);
        return new ModelSpec(
                "generic",
                smallFeatures(),
                List.of(
                        TaskSpec.binary("a", "a", null),
                        TaskSpec.binary("b", "b", null),
                        TaskSpec.binary("c", "c", null)),
                a,
                OptimizerConfig.defaults(OptimizerConfig.Kind.SGD),
                CsvLayout.withHeader());
    }

    /**
     * The spec of YAML {@code lines}, written to {@code dir/spec.yaml} and read by the spec loader as
     * a user's file would be.
     */
    public static ModelSpec yaml(java.nio.file.Path dir, String... lines) throws java.io.IOException {
        java.nio.file.Path f = dir.resolve("spec.yaml");
        java.nio.file.Files.writeString(f, String.join("\n", lines) + "\n");
        return org.mmoestream.model.SpecLoader.load(f);
    }

    /**
     * The YAML lines of a ctr/cvr spec with the sparse features {@code sparse} (each a flow
     * mapping, the first on line 3) and the bias tower on cvr, serving the bias feature {@code
     * elapsed} at 0 (the last line), for {@link #yaml}.
     */
    public static String[] elapsedLines(String... sparse) {
        List<String> lines = new ArrayList<>(List.of("name: elapsed", "features:", "  sparse:"));
        for (String f : sparse) {
            lines.add("    - " + f);
        }
        lines.addAll(List.of(
                "tasks:",
                "  - {name: ctr, label: click}",
                "  - {name: cvr, label: conversion}",
                "model: {expert_hidden: [8], bias_tasks: [cvr], bias_serving: {elapsed: 0}}"));
        return lines.toArray(String[]::new);
    }

    /** Random examples for {@code spec}; with ctr/cvr tasks a conversion implies a click. */
    public static List<EncodedExample> examples(ModelSpec spec, int rows, long seed) {
        Random rnd = new Random(seed);
        FeatureSpec fs = spec.features();
        List<EncodedExample> out = new ArrayList<>();
        int tasks = spec.tasks().size();
        for (int r = 0; r < rows; r++) {
            int[][] ids = new int[fs.sparse().size()][];
            for (int f = 0; f < ids.length; f++) {
                SparseFeature sf = fs.sparse().get(f);
                int n = sf.multi() ? 1 + rnd.nextInt(3) : 1;
                ids[f] = new int[n];
                for (int i = 0; i < n; i++) {
                    ids[f][i] = rnd.nextInt(sf.buckets());
                }
            }
            double[] dense = new double[fs.dense().size()];
            for (int i = 0; i < dense.length; i++) {
                dense[i] = rnd.nextGaussian() * 2 + 1;
            }
            float[] labels = new float[tasks];
            for (int t = 0; t < tasks; t++) {
                labels[t] = rnd.nextDouble() < 0.5 ? 1f : 0f;
            }
            int ctr = spec.taskIndex("ctr");
            int cvr = spec.taskIndex("cvr");
            if (ctr >= 0 && cvr >= 0 && labels[ctr] == 0f) {
                labels[cvr] = 0f;
            }
            for (int t = 0; t < tasks; t++) {
                if (spec.tasks().get(t).regression()) {
                    // A conversion's value, log-normal around 1.3; 0 without a conversion.
                    labels[t] = cvr >= 0 && labels[cvr] == 0f ? 0f : (float) Math.exp(0.3 + 0.5 * rnd.nextGaussian());
                }
            }
            out.add(new EncodedExample(ids, dense, labels));
        }
        return out;
    }

    public static Batch batch(ModelSpec spec, int rows, long seed) {
        return Batch.of(examples(spec, rows, seed));
    }
}
