package org.mmoestream.offline;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.Batch;
import org.mmoestream.model.GateStatistics;
import org.mmoestream.model.Heads;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.TaskMetrics;

/**
 * Metrics per head over a set of scored rows. A masked task (CVR) is measured on the rows where its
 * mask task is positive (clicked), CTCVR on every row against click x conversion, as in ESMM.
 */
public final class Evaluation {
    private final ModelSpec spec;
    private final Map<String, TaskMetrics> heads = new LinkedHashMap<>();
    private final GateStatistics gates;

    public Evaluation(ModelSpec spec, int experts) {
        this.spec = spec;
        List<String> names = spec.heads();
        for (int h = 0; h < names.size(); h++) {
            heads.put(names.get(h), new TaskMetrics(Heads.regression(spec, h)));
        }
        this.gates = new GateStatistics(spec.tasks().size(), experts);
    }

    /** Adds the predictions (per head, per row) of a labeled batch. */
    public void add(Batch b, double[][] predictions) {
        TaskMetrics[] byHead = heads.values().toArray(new TaskMetrics[0]);
        Heads.visit(spec, b, predictions, (h, p, y) -> byHead[h].add(p, y));
    }

    public GateStatistics gates() {
        return gates;
    }

    public Map<String, TaskMetrics> heads() {
        return heads;
    }

    /** The AUC of each head, in head order. */
    public Map<String, Double> aucs() {
        Map<String, Double> out = new java.util.LinkedHashMap<>();
        heads.forEach((head, m) -> out.put(head, m.auc()));
        return out;
    }

    /**
     * Scores {@code examples} with {@code model} as it would be published ({@link
     * MmoeModel#predictServed}; no training) in batches of {@code batch}.
     */
    public static Evaluation of(MmoeModel model, List<EncodedExample> examples, int batch) {
        Evaluation ev = new Evaluation(model.spec(), model.network().experts());
        for (int i = 0; i < examples.size(); i += batch) {
            Batch b = Batch.of(examples.subList(i, Math.min(examples.size(), i + batch)));
            double[][] p = model.predictServed(b);
            ev.gates.add(model.network(), model.network().buffers(b.rows()));
            ev.add(b, p);
        }
        return ev;
    }

    /** Mean AUC over the tasks (not CTCVR), the early-stopping criterion. */
    public double meanTaskAuc() {
        double s = 0;
        int n = 0;
        for (String t : spec.taskNames()) {
            double a = heads.get(t).auc();
            if (!Double.isNaN(a)) {
                s += a;
                n++;
            }
        }
        return n == 0 ? Double.NaN : s / n;
    }
}
