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

    public ModelSpec {
        tasks = List.copyOf(tasks);
    }

    public List<String> taskNames() {
        return tasks.stream().map(TaskSpec::name).toList();
    }

    public int taskIndex(String name) {
        return taskNames().indexOf(name);
    }

    /** Output heads: the tasks, plus {@code ctcvr} when ESMM is on. */
    public List<String> heads() {
        List<String> h = new ArrayList<>(taskNames());
        if (architecture.esmm()) {
            h.add("ctcvr");
        }
        return h;
    }

    public ModelSpec withArchitecture(Architecture a) {
        return new ModelSpec(name, features, tasks, a, optimizer, csv);
    }

    public ModelSpec withOptimizer(OptimizerConfig o) {
        return new ModelSpec(name, features, tasks, architecture, o, csv);
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

    /** The objective this spec trains. */
    public Objective objective() {
        boolean esmm = architecture.esmm();
        return new Objective(maskOf(), esmm ? taskIndex("ctr") : -1, esmm ? taskIndex("cvr") : -1);
    }
}
