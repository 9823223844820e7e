package org.mmoestream.model;

/**
 * Which rows and labels each output head is measured on: a task on every row, or (masked, CVR)
 * on the rows where its mask task is positive; CTCVR on every row against click x conversion. A
 * NaN label leaves the row out of its task (see {@link ExampleEncoder#labels(int, int, boolean,
 * boolean)}; a NaN click label means clicked).
 */
public final class Heads {
    private Heads() {}

    /** Receives one (head, prediction, label) triple: a 0/1 label, or a regression task's value. */
    @FunctionalInterface
    public interface Visitor {
        void accept(int head, double prediction, double label);
    }

    /** Whether head {@code h} of {@code spec} is a regression (its label a value). */
    public static boolean regression(ModelSpec spec, int h) {
        return h < spec.tasks().size() && spec.tasks().get(h).regression();
    }

    /** Visits every measured (head, row) of a labeled batch with its prediction. */
    public static void visit(ModelSpec spec, Batch b, double[][] predictions, Visitor v) {
        visit(spec, b.labels, b.rows(), predictions, v);
    }

    /**
     * As {@link #visit(ModelSpec, Batch, double[][], Visitor)}, with the labels per task of the
     * first {@code rows} rows.
     */
    public static void visit(ModelSpec spec, float[][] labels, int rows, double[][] predictions, Visitor v) {
        int[] mask = spec.maskOf();
        int tasks = spec.tasks().size();
        boolean esmm = spec.architecture().esmm();
        int ctr = spec.esmmClickTask();
        int cvr = spec.esmmConversionTask();
        boolean[] value = new boolean[tasks];
        for (int t = 0; t < tasks; t++) {
            value[t] = spec.tasks().get(t).regression();
        }
        for (int r = 0; r < rows; r++) {
            for (int t = 0; t < tasks; t++) {
                float y = labels[t][r];
                if (mask[t] >= 0 && labels[mask[t]][r] <= 0.5f || Float.isNaN(y)) {
                    continue;
                }
                v.accept(t, predictions[t][r], value[t] ? y : y > 0.5f ? 1 : 0);
            }
            if (esmm && !Float.isNaN(labels[cvr][r])) {
                v.accept(
                        tasks,
                        predictions[tasks][r],
                        Objective.ctcvrTarget(labels[ctr][r], labels[cvr][r]) > 0.5 ? 1 : 0);
            }
        }
    }
}
