package org.mmoestream.train;

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
 * of its labels), and measured against its final labels when they are known: a conversion (every
 * label positive), the windows' closing emission (defer's real negative, es-dfm's closing one:
 * what was not positive is negative), or, for modes without one (fnw, fnc), the trainer's event
 * time passing the impression's labeling horizon (click window + conversion window + allowed
 * disorder).
 *
 * <p>Measuring each emission against the labels it carries would count every later click and
 * conversion once as a negative; measuring the final emission with the model as it is when that
 * comes would not be fair either: in arrival order the join sends positives and negatives in
 * bursts of their own (clicks as they come, negatives when the watermark closes their windows),
 * and the model's bias follows each burst, so the predictions of a burst of negatives are low for
 * the burst's sake (the demo's stream measured ctr AUC 0.93 that way, the oracle 0.80). A
 * prediction made at the impression knows nothing of the label.
 *
 * <p>What is pending is bounded: impressions are sampled by a hash of the request id, the sample
 * halved (hash threshold) whenever more than {@link #CAPACITY} are pending, so a stream of any
 * rate is measured on a consistent, label-blind sample. Pending impressions are not checkpointed:
 * after a restore only impressions first sent after it are measured.
 */
final class Outcomes {
    /** Pending impressions at most (about 100 bytes each). */
    static final int CAPACITY = 100_000;

    private final ModelSpec spec;
    private final long horizon;
    private final int capacity;
    private final boolean[] clickTask;
    private final boolean[] labelTask;
    private final Map<String, Pending> pending = new LinkedHashMap<>();
    private long threshold = Long.MAX_VALUE;

    /** One impression waiting for its final labels: its event time, predictions per head and labels known so far. */
    private record Pending(long ts, float[] p, float[] y) {}

    /** @param horizon event time (ms) after its impression by which an impression's labels are final */
    Outcomes(ModelSpec spec, long horizon) {
        this(spec, horizon, CAPACITY);
    }

    Outcomes(ModelSpec spec, long horizon, int capacity) {
        this.spec = spec;
        this.horizon = horizon;
        this.capacity = capacity;
        int tasks = spec.tasks().size();
        clickTask = new boolean[tasks];
        labelTask = new boolean[tasks];
        for (int t = 0; t < tasks; t++) {
            TaskSpec task = spec.tasks().get(t);
            labelTask[t] = task.delayRole() == TaskSpec.DelayRole.LABEL;
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
     * impressions a row completes, and of those whose horizon the event time {@code clock} has passed.
     */
    void add(java.util.List<TrainExample> batch, double[][] predictions, long clock, Heads.Visitor v) {
        for (int r = 0; r < batch.size(); r++) {
            TrainExample e = batch.get(r);
            Kind kind = Kind.values()[e.kind];
            Pending q = pending.get(e.requestId);
            if (kind == Kind.FINAL) {
                // Final at once (sent by a join that waited, e.g. before join.feedback changed).
                measure(new Pending(e.impressionTs, row(predictions, r), e.labels.clone()), false, v);
                continue;
            }
            if (kind == Kind.OBSERVED) {
                if (q == null && sampled(e.requestId)) {
                    float[] y = merge(new float[clickTask.length], e, true);
                    pending.put(e.requestId, new Pending(e.impressionTs, row(predictions, r), y));
                    shrink();
                }
                continue;
            }
            if (q == null) {
                continue;
            }
            merge(q.y, e, false);
            if (kind == Kind.CONVERSION || kind == Kind.NEGATIVE || kind == Kind.CLOSED) {
                pending.remove(e.requestId);
                measure(q, kind == Kind.CONVERSION, v);
            }
        }
        Iterator<Pending> it = pending.values().iterator();
        while (it.hasNext()) {
            Pending q = it.next();
            if (q.ts > clock - horizon) {
                break;
            }
            it.remove();
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

    /** Writes the final labels of {@code e} into {@code y} ({@code fresh}: first filled with NaN). */
    private static float[] merge(float[] y, TrainExample e, boolean fresh) {
        if (fresh) {
            Arrays.fill(y, Float.NaN);
        }
        float[] f = e.finalLabels != null ? e.finalLabels : e.labels;
        for (int t = 0; t < y.length; t++) {
            if (!Float.isNaN(f[t])) {
                y[t] = f[t];
            }
        }
        return y;
    }

    /**
     * Visits the heads of a completed impression: labels still unknown are negatives (the windows
     * closed without the event), but the click after a {@code conversion}, which only follows one.
     */
    private void measure(Pending q, boolean conversion, Heads.Visitor v) {
        float[][] labels = new float[q.y.length][1];
        for (int t = 0; t < q.y.length; t++) {
            float y = q.y[t];
            labels[t][0] = !Float.isNaN(y) || !labelTask[t] ? y : conversion && clickTask[t] ? 1 : 0;
        }
        double[][] p = new double[q.p.length][1];
        for (int h = 0; h < p.length; h++) {
            p[h][0] = q.p[h];
        }
        Heads.visit(spec, labels, 1, p, v);
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
            pending.keySet().removeIf(id -> hash(id) > threshold);
        }
    }
}
