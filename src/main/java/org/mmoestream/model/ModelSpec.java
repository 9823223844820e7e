package org.mmoestream.model;

import java.util.ArrayList;
import java.util.List;
import org.mmoestream.feature.CsvLayout;
import org.mmoestream.feature.FeatureSpec;
import org.mmoestream.model.optim.OptimizerConfig;

/**
 * Everything that defines a model: its inputs, tasks, architecture and optimizer, and (for offline
 * training) the layout of its CSV files. Read from a YAML spec by {@code SpecLoader}.
 */
public record ModelSpec(
        String name,
        FeatureSpec features,
        List<TaskSpec> tasks,
        Architecture architecture,
        OptimizerConfig optimizer,
        CsvLayout csv) {

    /**
     * ESMM (Ma et al., SIGIR 2018) ties two tasks by role: the click-level task (CTR) and the
     * post-click one (CVR), whose product is an extra head (CTCVR). These three names are the only
     * task names the model core knows; every other task is data from the spec.
     */
    public static final String ESMM_CLICK = "ctr";

    public static final String ESMM_CONVERSION = "cvr";
    public static final String ESMM_PRODUCT = "ctcvr";

    public ModelSpec {
        tasks = List.copyOf(tasks);
    }

    /** With ESMM, the index of the click-level task; else -1. */
    public int esmmClickTask() {
        return architecture.esmm() ? taskIndex(ESMM_CLICK) : -1;
    }

    /** With ESMM, the index of the post-click task; else -1. */
    public int esmmConversionTask() {
        return architecture.esmm() ? taskIndex(ESMM_CONVERSION) : -1;
    }

    public List<String> taskNames() {
        return tasks.stream().map(TaskSpec::name).toList();
    }

    public int taskIndex(String name) {
        return taskNames().indexOf(name);
    }

    /** Output heads: the tasks, plus {@link #ESMM_PRODUCT} when ESMM is on. */
    public List<String> heads() {
        List<String> h = new ArrayList<>(taskNames());
        if (architecture.esmm()) {
            h.add(ESMM_PRODUCT);
        }
        return h;
    }

    public ModelSpec withArchitecture(Architecture a) {
        return new ModelSpec(name, features, tasks, a, optimizer, csv);
    }

    public ModelSpec withOptimizer(OptimizerConfig o) {
        return new ModelSpec(name, features, tasks, architecture, o, csv);
    }

    public ModelSpec withFeatures(org.mmoestream.feature.FeatureSpec f) {
        return new ModelSpec(name, f, tasks, architecture, optimizer, csv);
    }

    /** Per task, the index of the task whose positives carry its loss, or -1. */
    public int[] maskOf() {
        int[] m = new int[tasks.size()];
        for (int t = 0; t < m.length; t++) {
            String by = tasks.get(t).maskedBy();
            m[t] = by == null ? -1 : taskIndex(by);
        }
        return m;
    }

    /**
     * Per task, the index of the ES-DFM delay head of {@code role} for its event (a binary task of the
     * click or conversion event with a task of event {@code <event>_delayed} or {@code
     * <event>_real_negative}), or -1.
     */
    public int[] delayHeads(TaskSpec.DelayRole role) {
        int[] out = new int[tasks.size()];
        for (int t = 0; t < out.length; t++) {
            out[t] = -1;
            TaskSpec task = tasks.get(t);
            if (!task.delayWeighted()) {
                continue;
            }
            for (int a = 0; a < out.length; a++) {
                TaskSpec aux = tasks.get(a);
                if (aux.delayRole() == role && task.event().equals(aux.baseEvent())) {
                    out[t] = a;
                }
            }
        }
        return out;
    }

    /**
     * This spec with ES-DFM's two delay heads of {@code event} (click or conversion) as tasks named
     * as their events, {@code <event>_delayed} and {@code <event>_real_negative}, over every
     * impression (as the CTCVR loss, or CTR, that they weight).
     */
    public ModelSpec withDelayHeads(String event) {
        List<TaskSpec> t = new ArrayList<>(tasks);
        for (String suffix : List.of(TaskSpec.DELAYED, TaskSpec.REAL_NEGATIVE)) {
            t.add(TaskSpec.binary(event + suffix, event + suffix, null));
        }
        return new ModelSpec(name, features, t, architecture, optimizer, csv);
    }

    /** The objective this spec trains. */
    public Objective objective() {
        double[] w = tasks.stream().mapToDouble(TaskSpec::weight).toArray();
        TaskSpec.Loss[] losses = tasks.stream().map(TaskSpec::loss).toArray(TaskSpec.Loss[]::new);
        return new Objective(maskOf(), esmmClickTask(), esmmConversionTask(), Objective.Weights.NONE, w, losses)
                .withDelayHeads(delayHeads(TaskSpec.DelayRole.DELAYED), delayHeads(TaskSpec.DelayRole.REAL_NEGATIVE))
                .withEsmmDetachedCtr(architecture.esmmDetachCtr());
    }
}
