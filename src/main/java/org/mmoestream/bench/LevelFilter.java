package org.mmoestream.bench;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.Embeddings;
import org.mmoestream.model.Objective;

/**
 * An experiment of {@code bench feedback} (docs/fresh-labels-calibration.md): serving a head's
 * predictions with the model's overall level held still from hour to hour, and its differences
 * between impressions as trained. Every {@code period} of event time the filter measures how far
 * training has moved each head's mean logit over a probe (the {@code size} examples trained, or
 * served, last before a measurement {@code probeAge} earlier: with a day's age, mostly items no
 * longer shown, so what moves their logits is the model's shared part, not what it learns about the
 * items of the hour), takes that move out of what it serves, and lets the served level follow the
 * model's with a time constant of {@code timeConstant}: the served logit is the model's plus an
 * offset that each move sets back by the move and that decays as exp(-t / timeConstant) over event
 * time t. A move of the population (other users, other items) is not a move of the model and passes
 * at once. The first probe is taken once the filter has run {@code probeAge}, not of the examples a
 * model that has just started trains on. Meant for a conversion head, whose labels come hours after
 * the impression: a click head's level follows the hour's own clicks within minutes, which a filter
 * would hold back.
 */
final class LevelFilter {
    /** Predictions in (0, 1) are held this far from 0 and 1 before their logit is taken. */
    private static final double EDGE = 1e-7;

    private final Measure measure;
    /** How the probe is predicted, chosen when it was taken. */
    private Function<List<EncodedExample>, double[][]> predict;

    private final long period;
    private final double timeConstant;
    /** Event time of the last measurement. */
    private long last;

    private final int size;
    private final ArrayDeque<EncodedExample> recent = new ArrayDeque<>();
    private final long probeAge;
    /** The examples whose mean logits are measured, and their mean logits at the last measurement. */
    private List<EncodedExample> probe;

    private double[] probeLevel;
    /** The next probe, and when it was taken. */
    private List<EncodedExample> candidate;

    private long candidateAt;
    private double[] offset;
    private long next = Long.MIN_VALUE;
    /** Event time of the first measurement (MIN_VALUE: none yet): no probe is taken in the first probeAge. */
    private long started = Long.MIN_VALUE;

    /** How a probe is predicted at each measurement, chosen when the probe starts being measured. */
    @FunctionalInterface
    interface Measure {
        /** The predictions of {@code probe}'s examples (per head and example) at each measurement from now on. */
        Function<List<EncodedExample>, double[][]> of(List<EncodedExample> probe);
    }

    /**
     * @param predict the model's predictions of examples, per head and example
     * @param period event time between two measurements of the model's level
     * @param timeConstant event time in which the served level follows the model's
     * @param size examples in the probe
     * @param probeAge event time from taking a probe (the last examples trained) to measuring on it
     */
    LevelFilter(
            Function<List<EncodedExample>, double[][]> predict,
            long period,
            long timeConstant,
            int size,
            long probeAge) {
        this((Measure) probe -> predict, period, timeConstant, size, probeAge);
    }

    /** As above, with the probe predicted as {@code measure} chooses when it starts being measured. */
    LevelFilter(Measure measure, long period, long timeConstant, int size, long probeAge) {
        if (period <= 0 || timeConstant <= 0 || size < 1) {
            throw new IllegalArgumentException(
                    "the level filter needs a period and a time constant above 0 and a probe of at"
                            + " least 1 example: " + period + ", " + timeConstant
                            + ", " + size);
        }
        this.measure = measure;
        this.period = period;
        this.timeConstant = timeConstant;
        this.size = size;
        this.probeAge = probeAge;
    }

    /**
     * Examples that may join a later probe: those of a training step just taken, or, for a probe of
     * the impressions served ({@link FeedbackExperiments#LEVEL_PROBE}), those just scored.
     */
    void offer(List<EncodedExample> batch) {
        for (EncodedExample e : batch) {
            recent.addLast(e);
            if (recent.size() > size) {
                recent.removeFirst();
            }
        }
    }

    /** At event time {@code now}, before scoring: measures the model's level if a period has passed. */
    void at(long now) {
        if (now < next) {
            return;
        }
        if (started == Long.MIN_VALUE) {
            started = now;
        }
        if (probe != null) {
            double[] level = meanLogits(probe);
            double decay = Math.exp(-(now - last) / timeConstant);
            for (int h = 0; h < offset.length; h++) {
                offset[h] = decay * (offset[h] - (level[h] - probeLevel[h]));
            }
            probeLevel = level;
        }
        if (candidate != null && now - candidateAt >= probeAge) {
            probe = candidate;
            predict = measure.of(probe);
            probeLevel = meanLogits(probe);
            if (offset == null) {
                offset = new double[probeLevel.length];
            }
            candidate = null;
        }
        if (candidate == null && recent.size() == size && now - started >= probeAge) {
            candidate = new ArrayList<>(recent);
            candidateAt = now;
        }
        last = now;
        next = now + period;
    }

    /**
     * The predictions to serve for the model's {@code p} (per head and example), in place: those of
     * {@code head} with its level filtered, the others as they are.
     */
    double[][] serve(double[][] p, int head) {
        if (offset == null) {
            return p;
        }
        for (int r = 0; r < p[head].length; r++) {
            p[head][r] = Objective.sigmoid(logit(p[head][r]) + offset[head]);
        }
        return p;
    }

    /** The offset added to head {@code h}'s logits (0 before the second measurement). */
    double offset(int h) {
        return offset == null ? 0 : offset[h];
    }

    /**
     * A measure that predicts a probe with the rows of float32 embedding table {@code table} that its
     * examples use held at their values when it starts being measured, and the rest of the model as it
     * is: the moves it measures are then the model's shared part's alone, not what the model goes on
     * learning about the probe's own items (for the item's table). {@code predict} predicts with
     * {@code embeddings}' current rows; only the rows' values are swapped in, their optimizer state is
     * not read by a prediction.
     */
    static Measure holdingRows(Embeddings embeddings, int table, Function<List<EncodedExample>, double[][]> predict) {
        return probe -> {
            int[] ids = probe.stream()
                    .flatMapToInt(e -> Arrays.stream(e.sparseIds()[table]))
                    .distinct()
                    .toArray();
            float[] held = new float[ids.length * embeddings.feature(table).dim()];
            float[] now = new float[held.length];
            embeddings.readValues(table, ids, ids.length, held);
            return rows -> {
                embeddings.readValues(table, ids, ids.length, now);
                embeddings.writeValues(table, ids, ids.length, held);
                try {
                    return predict.apply(rows);
                } finally {
                    embeddings.writeValues(table, ids, ids.length, now);
                }
            };
        };
    }

    private double[] meanLogits(List<EncodedExample> rows) {
        double[][] p = predict.apply(rows);
        double[] mean = new double[p.length];
        for (int h = 0; h < p.length; h++) {
            for (double v : p[h]) {
                mean[h] += logit(v);
            }
            mean[h] /= p[h].length;
        }
        return mean;
    }

    private static double logit(double p) {
        double q = Math.min(1 - EDGE, Math.max(EDGE, p));
        return Math.log(q / (1 - q));
    }
}
