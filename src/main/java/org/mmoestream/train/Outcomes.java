package org.mmoestream.train;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import org.mmoestream.event.LabeledExample.Kind;
import org.mmoestream.model.Heads;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.TaskSpec;

/**
 * The progressive metrics of an early feedback mode ({@code join.feedback} other than wait): each
 * impression is scored once, by the model as it was at the impression's first emission (before any
 * of its labels), and measured against its final labels once its windows have closed: the click's
 * tasks when the watermark at the trainer passes the impression by the click window (and the allowed
 * disorder), the other heads when it passes the impression by both windows. So the window of the
 * metrics holds impressions in impression order, each measured on its final labels, as the
 * serving-time evaluation of {@code bench feedback} does.
 *
 * <p>Measuring each emission against the labels it carries would count every later click and
 * conversion once as a negative; measuring an impression when its last label comes would not be
 * fair either, since that time depends on the label (a conversion hours after the click, a real
 * negative a day after it) and the window would pool predictions of models of different ages by
 * label; and measuring it with the model as it is when that label comes would let the model's
 * bias, which follows the runs of positives and negatives the join sends in arrival order, rank the
 * labels (the demo's stream measured ctr AUC 0.93 that way, the oracle 0.80).
 *
 * <p>What is pending is bounded: impressions are sampled by a hash of the request id, the sample
 * halved (hash threshold) whenever more than {@link #CAPACITY} are pending, so a stream of any rate
 * is measured on a consistent, label-blind sample. Pending impressions are not checkpointed: after
 * a restore only impressions first sent after it are measured.
 */
final class Outcomes {
    /** Pending impressions at most (about 100 bytes each). */
    static final int CAPACITY = 100_000;

    private static final Kind[] KINDS = Kind.values();

    private final ModelSpec spec;
    private final long clickHorizon;
    private final long horizon;
    private final int capacity;
    private final boolean[] clickTask;
    private final boolean[] labelTask;
    private final boolean[] regressionTask;
    private final Map<String, Pending> pending = new LinkedHashMap<>();
    /** The pending impressions whose click's tasks are not measured yet, in arrival order. */
    private final ArrayDeque<Pending> clickStage = new ArrayDeque<>();

    private long threshold = Long.MAX_VALUE;

    /** One impression waiting for its final labels: its event time, predictions per head and labels known so far. */
    private static final class Pending {
        final long ts;
        final float[] p;
        final float[] y;
        boolean clicksMeasured;
        boolean gone;

        Pending(long ts, float[] p, float[] y) {
            this.ts = ts;
            this.p = p;
            this.y = y;
        }
    }

    /**
     * @param clickHorizon event time (ms) after its impression by which its click is known (click
     *     window + allowed disorder)
     * @param horizon event time (ms) after its impression by which every label is final (click
     *     window + conversion window + allowed disorder)
     */
    Outcomes(ModelSpec spec, long clickHorizon, long horizon) {
        this(spec, clickHorizon, horizon, CAPACITY);
    }

    Outcomes(ModelSpec spec, long clickHorizon, long horizon, int capacity) {
        this.spec = spec;
        this.clickHorizon = clickHorizon;
        this.horizon = horizon;
        this.capacity = capacity;
        int tasks = spec.tasks().size();
        clickTask = new boolean[tasks];
        labelTask = new boolean[tasks];
        regressionTask = new boolean[tasks];
        for (int t = 0; t < tasks; t++) {
            TaskSpec task = spec.tasks().get(t);
            labelTask[t] = task.delayRole() == TaskSpec.DelayRole.LABEL;
            regressionTask[t] = task.regression();
            clickTask[t] = labelTask[t] && TaskSpec.CLICK.equals(task.baseEvent());
        }
    }

    /** The number of impressions waiting for their final labels. */
    int pending() {
        return pending.size();
    }

    /**
     * Takes a trained batch, in order, with the model's predictions [head][row] made before it
     * learned from it, and visits every (head, prediction, final label) that became known: of the
     * pending impressions whose horizons the event time {@code clock} has passed (the watermark at
     * the trainer, when every example before it has been given; MIN_VALUE: none), and of rows sent
     * with final labels (a join that waited).
     */
    void add(java.util.List<TrainExample> batch, double[][] predictions, long clock, Heads.Visitor v) {
        for (int r = 0; r < batch.size(); r++) {
            TrainExample e = batch.get(r);
            Kind kind = KINDS[e.kind];
            if (kind == Kind.FINAL) {
                // Final at once (sent by a join that waited, e.g. before join.feedback changed).
                Heads.visit(spec, column(e.labels), 1, predictionColumn(row(predictions, r)), v);
                continue;
            }
            Pending q = pending.get(e.requestId);
            if (q != null) {
                merge(q.y, e);
            } else if ((kind == Kind.OBSERVED || kind == Kind.CLICK_NEGATIVE) && sampled(e.requestId)) {
                float[] y = new float[clickTask.length];
                Arrays.fill(y, Float.NaN);
                q = new Pending(e.impressionTs, row(predictions, r), merge(y, e));
                pending.put(e.requestId, q);
                clickStage.add(q);
                shrink();
            }
        }
        // ts + horizon, not clock - horizon: the clock may be MIN_VALUE, which would wrap around.
        while (!clickStage.isEmpty() && clickStage.peek().ts + clickHorizon <= clock) {
            Pending q = clickStage.poll();
            if (!q.gone) {
                measure(q, true, v);
            }
        }
        Iterator<Pending> it = pending.values().iterator();
        while (it.hasNext()) {
            Pending q = it.next();
            if (q.ts + horizon > clock) {
                break;
            }
            it.remove();
            q.gone = true;
            measure(q, false, v);
        }
    }

    private static float[] row(double[][] predictions, int r) {
        float[] p = new float[predictions.length];
        for (int h = 0; h < p.length; h++) {
            p[h] = (float) predictions[h][r];
        }
        return p;
    }

    /** Labels per task of one row, as {@link Heads#visit} takes them. */
    private static float[][] column(float[] v) {
        float[][] c = new float[v.length][1];
        for (int i = 0; i < v.length; i++) {
            c[i][0] = v[i];
        }
        return c;
    }

    /** Writes the final labels of {@code e} (NaN: not final) into {@code y}. */
    private static float[] merge(float[] y, TrainExample e) {
        float[] f = e.finalLabels != null ? e.finalLabels : e.labels;
        for (int t = 0; t < y.length; t++) {
            if (!Float.isNaN(f[t])) {
                y[t] = f[t];
            }
        }
        return y;
    }

    /**
     * Visits the click's tasks of {@code q} ({@code clicks}) or its other heads: a label still
     * unknown is a negative (its window closed without the event), but the click of a conversion,
     * which only follows one.
     */
    private void measure(Pending q, boolean clicks, Heads.Visitor v) {
        boolean converted = false;
        for (int t = 0; t < q.y.length; t++) {
            converted |= labelTask[t] && !clickTask[t] && q.y[t] == 1;
        }
        float[][] labels = new float[q.y.length][1];
        for (int t = 0; t < q.y.length; t++) {
            float y = q.y[t];
            if (clicks && !clickTask[t]) {
                y = Float.NaN;
            } else if (Float.isNaN(y) && labelTask[t]) {
                // A regression task (the conversion's value) has no label for a conversion without one.
                y = regressionTask[t] ? (converted ? Float.NaN : 0) : clickTask[t] && converted ? 1 : 0;
            }
            labels[t][0] = y;
        }
        float[] p = q.p;
        boolean clicksBefore = q.clicksMeasured;
        q.clicksMeasured = true;
        Heads.visit(spec, labels, 1, predictionColumn(p), (h, prediction, label) -> {
            boolean clickHead = h < clickTask.length && clickTask[h];
            if (clicks || !clickHead || !clicksBefore) {
                v.accept(h, prediction, label);
            }
        });
    }

    /** Predictions per head of one row, as {@link Heads#visit} takes them. */
    private static double[][] predictionColumn(float[] p) {
        double[][] c = new double[p.length][1];
        for (int h = 0; h < p.length; h++) {
            c[h][0] = p[h];
        }
        return c;
    }

    private boolean sampled(String requestId) {
        return hash(requestId) <= threshold;
    }

    private static long hash(String requestId) {
        long h = requestId.hashCode() * 0x9E3779B97F4A7C15L;
        return (h ^ (h >>> 29)) >>> 1;
    }

    /** Halves the sample while too many impressions are pending. */
    private void shrink() {
        while (pending.size() > capacity) {
            threshold >>>= 1;
            Iterator<Map.Entry<String, Pending>> it = pending.entrySet().iterator();
            while (it.hasNext()) {
                Map.Entry<String, Pending> e = it.next();
                if (hash(e.getKey()) > threshold) {
                    e.getValue().gone = true;
                    it.remove();
                }
            }
        }
    }
}
