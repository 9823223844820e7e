package org.mmoestream.model;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.mmoestream.config.InputException;
import org.mmoestream.config.YamlNode;
import org.mmoestream.feature.CsvLayout;
import org.mmoestream.feature.DenseFeature;
import org.mmoestream.feature.DenseTransform;
import org.mmoestream.feature.ElapsedBy;
import org.mmoestream.feature.FeatureEncoder;
import org.mmoestream.feature.FeatureSpec;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.model.optim.OptimizerConfig;

/**
 * Reads a model spec (YAML; see {@code examples/} and the README's spec table) and validates every
 * key; an invalid spec fails with one sentence naming the file and the key.
 */
public final class SpecLoader {
    /** Most PLE extraction levels a spec may stack (the PLE paper's experiments use 1 to 3). */
    static final int MAX_LEVELS = 8;

    private SpecLoader() {}

    public static ModelSpec load(Path file) {
        return parse(YamlNode.load(file));
    }

    static ModelSpec parse(YamlNode root) {
        root.allowOnly(Set.of("name", "csv", "features", "tasks", "model", "optimizer"));
        YamlNode model = root.has("model") ? root.get("model") : null;
        if (model != null) {
            model.allowOnly(Set.of(
                    "variant",
                    "experts",
                    "expert_hidden",
                    "gate_hidden",
                    "tower_hidden",
                    "embedding_dim",
                    "esmm",
                    "esmm_detach_ctr",
                    "shared_experts",
                    "task_experts",
                    "levels",
                    "gate_dropout",
                    "loss_weighting",
                    "dropout",
                    "bias_tasks",
                    "bias_serving",
                    "activation",
                    "batch_norm"));
        }
        int defaultDim = model == null ? 8 : model.integer("embedding_dim", 8, 1);
        FeatureSpec features = features(root.get("features"), defaultDim);
        List<TaskSpec> tasks = tasks(root.get("tasks"));
        Architecture arch = architecture(model, tasks, root);
        arch = arch.withBiasTower(biasTower(model, features, tasks));
        OptimizerConfig opt = optimizer(root.has("optimizer") ? root.get("optimizer") : null);
        CsvLayout csv = csv(root.has("csv") ? root.get("csv") : null);
        return new ModelSpec(root.string("name", "default"), features, tasks, arch, opt, csv);
    }

    private static FeatureSpec features(YamlNode node, int defaultDim) {
        node.allowOnly(Set.of("sparse", "dense"));
        Set<String> names = new HashSet<>();
        List<SparseFeature> sparse = new ArrayList<>();
        List<YamlNode> crossedBy = new ArrayList<>();
        if (node.has("sparse")) {
            for (YamlNode f : node.get("sparse").list()) {
                f.allowOnly(Set.of(
                        "name",
                        "column",
                        "buckets",
                        "dim",
                        "multi",
                        "separator",
                        "bias",
                        "elapsed",
                        "elapsed_by",
                        "learning_rate"));
                String name = f.get("name").text();
                if (!names.add(name)) {
                    throw f.error("repeats the feature name '" + name + "'");
                }
                boolean multi = f.bool("multi", false);
                String sep = f.string("separator", "|");
                if (multi && sep.isEmpty()) {
                    throw f.get("separator").error("must not be empty");
                }
                boolean bias = f.bool("bias", false);
                boolean elapsed = f.bool("elapsed", false);
                if (elapsed && (!bias || multi)) {
                    // Serving does not know the hours an example will wait: only the bias tower may learn them.
                    throw f.get("elapsed").error("needs a single-valued bias feature (bias: true, multi: false)");
                }
                ElapsedBy by = null;
                if (f.has("elapsed_by")) {
                    if (!elapsed) {
                        throw f.get("elapsed_by").error("needs an elapsed feature (elapsed: true)");
                    }
                    YamlNode b = f.get("elapsed_by").allowOnly(Set.of("feature", "bounds"));
                    by = new ElapsedBy(b.get("feature").text(), b.increasingNumbers("bounds"));
                    crossedBy.add(b.get("feature"));
                }
                sparse.add(new SparseFeature(
                        name,
                        f.string("column", name),
                        f.integer("buckets", 100_000, 1),
                        f.integer("dim", defaultDim, 1),
                        multi,
                        sep,
                        bias,
                        elapsed,
                        by,
                        f.has("learning_rate") ? f.number("learning_rate", 0, 1e-12, 100) : null));
            }
        }
        List<DenseFeature> dense = new ArrayList<>();
        if (node.has("dense")) {
            for (YamlNode f : node.get("dense").list()) {
                f.allowOnly(Set.of("name", "column", "transform"));
                String name = f.get("name").text();
                if (!names.add(name)) {
                    throw f.error("repeats the feature name '" + name + "'");
                }
                String t = f.string("transform", "none");
                DenseTransform tr = DenseTransform.parse(t);
                if (tr == null) {
                    throw f.get("transform").error("must be none, log1p or standardize, got '" + t + "'");
                }
                dense.add(new DenseFeature(name, f.string("column", name), tr));
            }
        }
        if (sparse.isEmpty() && dense.isEmpty()) {
            throw node.error("must declare at least one sparse or dense feature");
        }
        FeatureSpec spec = new FeatureSpec(sparse, dense);
        for (YamlNode by : crossedBy) {
            String other = by.text();
            if (spec.column(other) == null) {
                throw by.error("names no feature of the spec: '" + other + "'");
            }
            if (sparse.stream().anyMatch(x -> x.name().equals(other) && (x.bias() || x.multi()))) {
                // Serving reads the class from the score request: a bias feature is not in it.
                throw by.error("names '" + other + "', which is not a single-valued feature of the main network");
            }
        }
        return spec;
    }

    private static List<TaskSpec> tasks(YamlNode node) {
        List<TaskSpec> out = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (YamlNode t : node.list()) {
            t.allowOnly(
                    Set.of("name", "label", "event", "masked_by", "positive", "negative", "weight", "type", "loss"));
            String name = t.get("name").text();
            if (!names.add(name)) {
                throw t.error("repeats the task name '" + name + "'");
            }
            String maskedBy =
                    t.string("masked_by", name.equals(ModelSpec.ESMM_CONVERSION) ? ModelSpec.ESMM_CLICK : null);
            List<String> pos = t.strings("positive");
            List<String> neg = t.strings("negative");
            if (pos.isEmpty() && !neg.isEmpty()) {
                throw t.get("negative").error("needs positive values too");
            }
            String event = t.string("event", null);
            if (event != null && !TaskSpec.knownEvent(event)) {
                throw t.get("event")
                        .error("must be click or conversion (or, for join.feedback: es-dfm, click_delayed, "
                                + "click_real_negative, conversion_delayed or conversion_real_negative), got '" + event
                                + "'");
            }
            double weight = t.number("weight", 1, 0, 1e6);
            if (weight == 0) {
                throw t.get("weight").error("must be above 0 (leave a task out of the spec instead)");
            }
            TaskSpec.Loss loss = loss(t);
            String streamed = event != null ? event : t.string("label", name);
            if (loss != TaskSpec.Loss.LOGLOSS && TaskSpec.roleOf(streamed) != TaskSpec.DelayRole.LABEL) {
                throw t.get("type")
                        .error("cannot be regression for a delay head ('" + streamed + "'), which is binary");
            }
            if (loss != TaskSpec.Loss.LOGLOSS) {
                if (!pos.isEmpty()) {
                    throw t.get("positive")
                            .error("applies to binary tasks only; a regression task's label is a number");
                }
                if (name.equals(ModelSpec.ESMM_CLICK) || name.equals(ModelSpec.ESMM_CONVERSION)) {
                    throw t.get("type").error("cannot be regression for '" + name + "', which ESMM takes as binary");
                }
                if (TaskSpec.CLICK.equals(event != null ? event : t.string("label", name))) {
                    throw t.get("type").error("needs the conversion event (its value), a click has no value");
                }
            }
            out.add(new TaskSpec(
                    name, t.string("label", name), maskedBy, Set.copyOf(pos), Set.copyOf(neg), event, weight, loss));
        }
        if (out.isEmpty()) {
            throw node.error("must list at least one task");
        }
        for (int i = 0; i < out.size(); i++) {
            String by = out.get(i).maskedBy();
            if (by != null && !names.contains(by)) {
                if (out.get(i).name().equals(ModelSpec.ESMM_CONVERSION)
                        && !node.list().get(i).has("masked_by")) {
                    // A generic task called cvr without a ctr task: no mask.
                    TaskSpec t = out.get(i);
                    out.set(
                            i,
                            new TaskSpec(
                                    t.name(),
                                    t.label(),
                                    null,
                                    t.positive(),
                                    t.negative(),
                                    t.event(),
                                    t.weight(),
                                    t.loss()));
                    continue;
                }
                throw node.list().get(i).get("masked_by").error("names no task: '" + by + "'");
            }
            if (by != null && out.get(indexOf(out, by)).regression()) {
                throw node.list().get(i).get("masked_by").error("names a regression task: '" + by + "'");
            }
        }
        return out;
    }

    /**
     * The bias tower of a spec with bias features: its tasks ({@code model.bias_tasks}, by default
     * those of the click event) and serving values ({@code model.bias_serving}); null without bias
     * features, whose keys are then refused.
     */
    private static BiasTower biasTower(YamlNode m, FeatureSpec features, List<TaskSpec> tasks) {
        List<String> bias = features.sparse().stream()
                .filter(SparseFeature::bias)
                .map(SparseFeature::name)
                .toList();
        if (bias.isEmpty()) {
            for (String k : List.of("bias_tasks", "bias_serving")) {
                if (m != null && m.has(k)) {
                    throw m.get(k).error("needs a bias feature (features.sparse[].bias: true)");
                }
            }
            return null;
        }
        List<String> on = m != null && m.has("bias_tasks")
                ? m.strings("bias_tasks")
                : tasks.stream()
                        .filter(t -> TaskSpec.CLICK.equals(t.event()))
                        .map(TaskSpec::name)
                        .toList();
        for (String t : on) {
            if (indexOf(tasks, t) < 0) {
                throw m.get("bias_tasks").error("names no task: '" + t + "'");
            }
        }
        if (on.isEmpty()) {
            throw new InputException("the spec has bias features " + bias + " but no task to add their logit to: "
                    + "set model.bias_tasks (by default the tasks of the click event).");
        }
        java.util.Map<String, String> serving = new java.util.TreeMap<>();
        if (m != null && m.has("bias_serving")) {
            m.get("bias_serving").flatten("", serving);
            for (String f : serving.keySet()) {
                if (!bias.contains(f)) {
                    throw m.get("bias_serving").error("names '" + f + "', which is not a bias feature " + bias);
                }
            }
            for (SparseFeature f : features.sparse()) {
                String v = serving.get(f.name());
                if (f.elapsed() && v != null) {
                    // Served as the hours training writes: "0", not "0.0" (a row training never fills).
                    long hours = -1;
                    try {
                        double d = FeatureEncoder.number(v);
                        hours = d == Math.rint(d) && d >= 0 && d < 1e6 ? (long) d : -1;
                    } catch (IllegalArgumentException e) {
                        // refused below
                    }
                    if (hours < 0) {
                        throw m.get("bias_serving")
                                .error("gives the elapsed feature " + f.name() + " '" + v
                                        + "', which is not a whole number of hours >= 0");
                    }
                    serving.put(f.name(), Long.toString(hours));
                }
            }
        }
        return new BiasTower(on, serving);
    }

    private static int indexOf(List<TaskSpec> tasks, String name) {
        for (int i = 0; i < tasks.size(); i++) {
            if (tasks.get(i).name().equals(name)) {
                return i;
            }
        }
        return -1;
    }

    /** A task's loss from its {@code type} (binary, regression) and, for a regression, {@code loss}. */
    private static TaskSpec.Loss loss(YamlNode t) {
        String type = t.string("type", "binary");
        if (type.equals("binary")) {
            if (t.has("loss")) {
                throw t.get("loss").error("applies to regression tasks only (binary tasks use log-loss)");
            }
            return TaskSpec.Loss.LOGLOSS;
        }
        if (!type.equals("regression")) {
            throw t.get("type").error("must be binary or regression, got '" + type + "'");
        }
        String loss = t.string("loss", "mse");
        return switch (loss) {
            case "mse" -> TaskSpec.Loss.MSE;
            case "lognormal" -> TaskSpec.Loss.LOGNORMAL;
            default -> throw t.get("loss").error("must be mse or lognormal, got '" + loss + "'");
        };
    }

    private static Architecture architecture(YamlNode m, List<TaskSpec> tasks, YamlNode root) {
        Architecture d = Architecture.defaults();
        boolean ctrCvr = tasks.stream().anyMatch(t -> t.name().equals(ModelSpec.ESMM_CLICK))
                && tasks.stream().anyMatch(t -> t.name().equals(ModelSpec.ESMM_CONVERSION));
        if (m == null) {
            return d.withEsmm(ctrCvr);
        }
        String v = m.string("variant", d.variant().key());
        Variant variant = Variant.parse(v);
        if (variant == null) {
            throw m.get("variant").error("must be mmoe, omoe, shared-bottom, single-task or ple, got '" + v + "'");
        }
        boolean esmm = m.bool("esmm", ctrCvr);
        if (esmm && !ctrCvr) {
            throw m.get("esmm").error("needs tasks named ctr and cvr");
        }
        boolean detachCtr = m.bool("esmm_detach_ctr", false);
        if (detachCtr && !esmm) {
            throw m.get("esmm_detach_ctr").error("needs esmm (tasks named ctr and cvr, esmm not false)");
        }
        int shared = 0;
        int own = 0;
        int levels = 0;
        if (variant == Variant.PLE) {
            shared = m.integer("shared_experts", 1, 0);
            own = m.integer("task_experts", 1, 1);
            levels = m.integer("levels", 1, 1);
            if (levels > MAX_LEVELS) {
                throw m.get("levels").error("must be at most " + MAX_LEVELS + ", got " + levels);
            }
            if (levels > 1 && shared == 0) {
                throw m.get("levels")
                        .error("above 1 needs shared_experts of at least 1: the levels above read the shared"
                                + " experts' mixture");
            }
            if (levels > 1 && tasks.stream().anyMatch(t -> t.name().equals("shared"))) {
                throw m.get("levels").error("above 1 names each level's shared gate 'shared', which a task has");
            }
        } else {
            for (String k : List.of("shared_experts", "task_experts", "levels")) {
                if (m.has(k)) {
                    throw m.get(k).error("applies to variant ple only");
                }
            }
        }
        if (m.has("gate_dropout")
                && m.number("gate_dropout", 0, 0, 0.9) > 0
                && !(variant == Variant.MMOE || variant == Variant.OMOE || variant == Variant.PLE)) {
            throw m.get("gate_dropout").error("applies to variants with gates (mmoe, omoe, ple) only");
        }
        return Architecture.builder()
                .variant(variant)
                .experts(variant == Variant.PLE ? shared + tasks.size() * own : m.integer("experts", d.experts(), 1))
                .expertHidden(nonEmpty(m, "expert_hidden", d.expertHidden()))
                .gateHidden(m.integers("gate_hidden", d.gateHidden(), 1))
                .towerHidden(m.integers("tower_hidden", d.towerHidden(), 1))
                .esmm(esmm)
                .esmmDetachCtr(detachCtr)
                .ple(shared, own, levels)
                .gateDropout(m.number("gate_dropout", 0, 0, 0.9))
                .uncertaintyWeighting(uncertaintyWeighting(m))
                .dropout(m.number("dropout", 0, 0, 0.9))
                .activation(activation(m))
                .batchNorm(m.bool("batch_norm", false))
                .build();
    }

    private static Activation activation(YamlNode m) {
        String a = m.string("activation", "relu");
        Activation act = Activation.parse(a);
        if (act == null) {
            throw m.get("activation").error("must be relu, tanh or sigmoid, got '" + a + "'");
        }
        return act;
    }

    private static boolean uncertaintyWeighting(YamlNode m) {
        String w = m.string("loss_weighting", "fixed");
        if (!w.equals("fixed") && !w.equals("uncertainty")) {
            throw m.get("loss_weighting").error("must be fixed or uncertainty, got '" + w + "'");
        }
        return w.equals("uncertainty");
    }

    private static List<Integer> nonEmpty(YamlNode m, String key, List<Integer> dflt) {
        List<Integer> v = m.integers(key, dflt, 1);
        if (v.isEmpty()) {
            throw m.get(key).error("needs at least one layer");
        }
        return v;
    }

    private static OptimizerConfig optimizer(YamlNode o) {
        if (o == null) {
            return OptimizerConfig.defaults(OptimizerConfig.Kind.ADAGRAD);
        }
        o.allowOnly(Set.of(
                "type",
                "learning_rate",
                "beta1",
                "beta2",
                "epsilon",
                "initial_accumulator",
                "l2",
                "clip_norm",
                "serving_average",
                "serving_average_hours"));
        String type = o.string("type", "adagrad");
        OptimizerConfig.Kind kind = OptimizerConfig.Kind.parse(type);
        if (kind == null) {
            throw o.get("type").error("must be sgd, adagrad or adam, got '" + type + "'");
        }
        OptimizerConfig d = OptimizerConfig.defaults(kind);
        return new OptimizerConfig(
                kind,
                o.number("learning_rate", d.learningRate(), 1e-12, 100),
                o.number("beta1", d.beta1(), 0, 0.999999),
                o.number("beta2", d.beta2(), 0, 0.99999999),
                o.number("epsilon", d.epsilon(), 0, 1),
                o.number("initial_accumulator", d.initialAccumulator(), 0, 1e6),
                o.number("l2", d.l2(), 0, 1e3),
                o.number("clip_norm", d.clipNorm(), 0, 1e9),
                servingAverage(o),
                servingAverageHours(o));
    }

    /** {@code serving_average}: 0 (off, the default) or a time constant of at least one optimizer step. */
    private static double servingAverage(YamlNode o) {
        double steps = o.number("serving_average", 0, 0, 1e12);
        if (steps > 0 && steps < 1) {
            throw o.get("serving_average")
                    .error("must be 0 (serve the parameters as trained) or at least 1 optimizer step, got " + steps);
        }
        return steps;
    }

    /**
     * {@code serving_average_hours}: 0 (the default) or the serving average's span in hours of event
     * time; not beside {@code serving_average}, which sizes it in steps.
     */
    private static double servingAverageHours(YamlNode o) {
        double hours = o.number("serving_average_hours", 0, 0, 1e6);
        if (hours > 0 && o.number("serving_average", 0, 0, 1e12) > 0) {
            throw o.get("serving_average_hours")
                    .error("sizes the serving average in event time, and serving_average in steps: set one of"
                            + " them, not both");
        }
        if (hours > 0 && hours * 3_600_000 < 1) {
            throw o.get("serving_average_hours").error("must be 0 or at least a millisecond, got " + hours);
        }
        return hours;
    }

    private static CsvLayout csv(YamlNode c) {
        if (c == null) {
            return CsvLayout.withHeader();
        }
        c.allowOnly(Set.of("columns", "delimiter", "trim"));
        String delim = c.string("delimiter", ",");
        if (delim.length() != 1) {
            throw c.get("delimiter").error("must be one character, got '" + delim + "'");
        }
        List<String> cols = c.has("columns") ? c.strings("columns") : null;
        if (cols != null && new HashSet<>(cols).size() != cols.size()) {
            throw c.get("columns").error("repeats a column name");
        }
        return new CsvLayout(cols, delim.charAt(0), c.bool("trim", true));
    }
}
