package org.mmoestream.model;

/**
 * The training loss: the sum over tasks of the mean binary cross-entropy with logits, where a task
 * masked by another (CVR by CTR) counts only the rows where that task's label is 1. With ESMM (Ma
 * et al., SIGIR 2018, Eq. 3) CVR has no loss of its own: pCTCVR = pCTR x pCVR is trained against
 * click x conversion on every row, so the CVR tower learns over the entire impression space.
 *
 * <p>A NaN label leaves the row out of that task's loss (the mean is over the rows that count); a
 * NaN label of the masking (click) task means clicked. With fake-negative weighting (Ktena et al.,
 * RecSys 2019, for examples emitted before their labels are final and again on each later
 * positive), each counted row's loss is weighted by the model's own prediction p of that loss's
 * target, taken as a constant: a positive by 1 + p, a negative by (1 - p)(1 + p).
 *
 * <p>A regression task ({@link TaskSpec.Loss#MSE}) counts the mean squared error over its rows; a
 * log-normal one ({@link TaskSpec.Loss#LOGNORMAL}) the negative log-likelihood of log y under
 * N(z, sigma^2) up to constants, 0.5 s + (log y - z)^2 / (2 e^s) with s = log sigma^2 a parameter
 * of the task ({@link Terms#logVariance}), over its rows with y above 0. Fake-negative weights do
 * not apply to them.
 *
 * <p>Task weights: each task's loss is multiplied by its weight (the spec's fixed weight, times
 * exp(-s_t) under uncertainty weighting, which {@link MmoeModel} applies), in the total and its
 * gradient; the per-task losses reported stay unweighted.
 *
 * <p>Stability: BCE(z, y) = max(z, 0) - z y + log(1 + exp(-|z|)). For CTCVR, with s = sigmoid(z)
 * and q = sigmoid(-z), log p = log s1 + log s2 and 1 - p = q1 + s1 q2 (no cancellation), which
 * gives dL/dz1 = q1 (p - y) / (1 - p) and dL/dz2 = q2 (p - y) / (1 - p). With pCTR detached
 * ({@link #withEsmmDetachedCtr}) the CTCVR loss holds pCTR as a constant: dL/dz1 from it is 0, and
 * pCTR learns from the CTR loss alone.
 */
public final class Objective {
    private final int tasks;
    private final int[] maskOf;
    private final int ctr;
    private final int cvr;
    private final Weights weighting;
    private final double[] taskWeights;
    private final TaskSpec.Loss[] losses;
    /** Per task, its ES-DFM delay heads (f_dp, f_rn), or -1 (see {@link Weights#ES_DFM}). */
    private final int[] delayedHead;

    private final int[] realNegativeHead;
    /** Per task, whether it is a delay head of another task. */
    private final boolean[] delayHead;
    /** Whether the CTCVR loss holds pCTR as a constant (no gradient to the CTR logit). */
    private final boolean detachCtr;

    /** How each row's loss is weighted for examples sent before their labels are final. */
    public enum Weights {
        /** Every row 1. */
        NONE,
        /** FNW (Ktena et al.): a positive 1 + p, a negative (1 - p)(1 + p). */
        FAKE_NEGATIVE,
        /**
         * DEFER (Gu et al., KDD 2021): every impression is trained twice per event (at the end of the
         * observation window c with what came by then; then a positive within c again, a positive
         * after c as itself, no event as a real negative), so the stream has q(1) = p - f_dp / 2
         * and q(0) = 1 - p + f_dp / 2, and a positive weighs p / (p - f_dp / 2), a negative (1 -
         * p) / (1 - p + f_dp / 2), where f_dp (the event comes after c) is the task's delayed head,
         * capped at p; a task without one counts every positive as delayed (c = 0: f_dp = p, a
         * positive 2, a negative (1 - p) / (1 - p / 2)).
         */
        DEFER,
        /**
         * ES-DFM (Yang et al., AAAI 2021): each impression sent once at the end of an observation
         * window c and again for a positive after it; a task with delay heads f_dp (its positive
         * comes after c) and f_rn (it never comes, given none by c) weighs a positive 1 + f_dp and a
         * negative (1 + f_dp) f_rn, the importance weights of the true distribution over the
         * duplicated one; a task without them, and the heads themselves, 1.
         */
        ES_DFM
    }

    /**
     * Per-task terms of a loss evaluation besides the logits, sized to the tasks and reused: a factor
     * on each task's weight (in; 1), each log-normal task's s = log sigma^2 (in) and dLoss/ds (out),
     * and the rows each task counted (out).
     */
    public static final class Terms {
        public final double[] scale;
        public final double[] logVariance;
        public final double[] dLogVariance;
        public final int[] rows;
        /**
         * Per task, the rows that count for it in the whole batch, when the batch evaluated is a
         * slice of it (null: count the slice's): each task's mean is then over the whole batch's
         * rows, and the slices' losses and gradients add up to the batch's.
         */
        public int[] counted;

        public Terms(int tasks) {
            scale = new double[tasks];
            java.util.Arrays.fill(scale, 1);
            logVariance = new double[tasks];
            dLogVariance = new double[tasks];
            rows = new int[tasks];
        }
    }

    /** The plain loss (no fake-negative weights, every task of weight 1). */
    public Objective(int[] maskOf, int ctr, int cvr) {
        this(maskOf, ctr, cvr, false);
    }

    public Objective(int[] maskOf, int ctr, int cvr, boolean fakeNegativeWeights) {
        this(maskOf, ctr, cvr, fakeNegativeWeights, null, null);
    }

    /**
     * @param maskOf per task, the index of the task masking it, or -1
     * @param ctr index of the CTR task when ESMM is on, else -1
     * @param cvr index of the CVR task when ESMM is on, else -1
     * @param fakeNegativeWeights whether each row's loss is weighted as in FNW
     * @param taskWeights per task, its fixed weight in the total loss (null: all 1)
     * @param losses per task, its loss (null: all binary)
     */
    public Objective(
            int[] maskOf, int ctr, int cvr, boolean fakeNegativeWeights, double[] taskWeights, TaskSpec.Loss[] losses) {
        this(maskOf, ctr, cvr, fakeNegativeWeights ? Weights.FAKE_NEGATIVE : Weights.NONE, taskWeights, losses);
    }

    /**
     * @param weighting how each row's loss is weighted (constants of the loss, from the model's own
     *     predictions)
     */
    public Objective(int[] maskOf, int ctr, int cvr, Weights weighting, double[] taskWeights, TaskSpec.Loss[] losses) {
        this(maskOf, ctr, cvr, weighting, taskWeights, losses, false);
    }

    private Objective(
            int[] maskOf,
            int ctr,
            int cvr,
            Weights weighting,
            double[] taskWeights,
            TaskSpec.Loss[] losses,
            boolean detachCtr) {
        this.tasks = maskOf.length;
        this.detachCtr = detachCtr;
        this.maskOf = maskOf.clone();
        this.ctr = ctr;
        this.cvr = cvr;
        this.weighting = weighting;
        this.taskWeights = new double[tasks];
        for (int t = 0; t < tasks; t++) {
            this.taskWeights[t] = taskWeights == null ? 1 : taskWeights[t];
        }
        this.losses = new TaskSpec.Loss[tasks];
        for (int t = 0; t < tasks; t++) {
            this.losses[t] = losses == null ? TaskSpec.Loss.LOGLOSS : losses[t];
        }
        this.delayedHead = new int[tasks];
        this.realNegativeHead = new int[tasks];
        this.delayHead = new boolean[tasks];
        java.util.Arrays.fill(delayedHead, -1);
        java.util.Arrays.fill(realNegativeHead, -1);
    }

    private Objective(Objective o, Weights weighting, int[] delayed, int[] realNegative, boolean detachCtr) {
        this(o.maskOf, o.ctr, o.cvr, weighting, o.taskWeights, o.losses, detachCtr);
        System.arraycopy(delayed, 0, delayedHead, 0, tasks);
        System.arraycopy(realNegative, 0, realNegativeHead, 0, tasks);
        for (int t = 0; t < tasks; t++) {
            if (delayedHead[t] >= 0) {
                delayHead[delayedHead[t]] = true;
            }
            if (realNegativeHead[t] >= 0) {
                delayHead[realNegativeHead[t]] = true;
            }
        }
    }

    /** This objective with each task's ES-DFM delay heads (per task an index, or -1). */
    public Objective withDelayHeads(int[] delayed, int[] realNegative) {
        return new Objective(this, weighting, delayed, realNegative, detachCtr);
    }

    /** Whether some task has both ES-DFM delay heads. */
    public boolean hasDelayHeads() {
        for (int t = 0; t < tasks; t++) {
            if (delayedHead[t] >= 0 && realNegativeHead[t] >= 0) {
                return true;
            }
        }
        return false;
    }

    /** This objective with fake-negative weights on or off. */
    public Objective withFakeNegativeWeights(boolean on) {
        return withWeights(on ? Weights.FAKE_NEGATIVE : Weights.NONE);
    }

    /** ESMM's conversion task (its loss is the CTCVR loss over every impression); -1 without ESMM. */
    public int esmmConversionTask() {
        return cvr;
    }

    /** This objective with rows weighted as {@code w} says. */
    public Objective withWeights(Weights w) {
        return new Objective(this, w, delayedHead, realNegativeHead, detachCtr);
    }

    /**
     * This objective with ESMM's pCTR detached from the CTCVR loss ({@code model.esmm_detach_ctr}) or
     * not (the paper's ESMM, where the CTCVR loss trains the CTR tower too).
     */
    public Objective withEsmmDetachedCtr(boolean on) {
        return new Objective(this, weighting, delayedHead, realNegativeHead, on);
    }

    /** Whether the CTCVR loss holds pCTR as a constant. */
    public boolean esmmDetachedCtr() {
        return detachCtr;
    }

    public Weights weighting() {
        return weighting;
    }

    /** Task {@code t}'s fixed weight. */
    public double taskWeight(int t) {
        return taskWeights[t];
    }

    /** Whether rows are weighted (an early feedback mode's weights). */
    public boolean fakeNegativeWeights() {
        return weighting != Weights.NONE;
    }

    /**
     * The rows' weights of a batch at {@code logits}, [rows, tasks] row-major (for ESMM the CVR slot
     * weights the CTCVR loss, by pCTCVR), where p is the prediction of the loss's target: with FNW a
     * positive 1 + p, a negative (1 - p)(1 + p); with DEFER a positive p / (p - f_dp / 2), a negative
     * (1 - p) / (1 - p + f_dp / 2) (at c = 0 a positive 2, a negative (1 - p) / (1 - p / 2)); with
     * ES-DFM from the task's delay heads (1 without them); a regression task's rows 1.
     */
    public double[] fakeNegativeWeights(double[] logits, Batch b) {
        double[] w = new double[b.rows * tasks];
        for (int r = 0; r < b.rows; r++) {
            for (int t = 0; t < tasks; t++) {
                float label = b.labels[t][r];
                double p = sigmoid(logits[r * tasks + t]);
                double y = label;
                if (t == cvr) {
                    p *= sigmoid(logits[r * tasks + ctr]);
                    y = ctcvrTarget(b, ctr, cvr, r);
                }
                if (losses[t] != TaskSpec.Loss.LOGLOSS) {
                    w[r * tasks + t] = 1;
                } else if (weighting == Weights.ES_DFM) {
                    int dp = delayedHead[t];
                    int rn = realNegativeHead[t];
                    if (dp < 0 || rn < 0) {
                        w[r * tasks + t] = 1;
                    } else {
                        double fdp = sigmoid(logits[r * tasks + dp]);
                        double frn = sigmoid(logits[r * tasks + rn]);
                        w[r * tasks + t] = y > 0.5 ? 1 + fdp : (1 + fdp) * frn;
                    }
                } else if (weighting == Weights.DEFER && delayHead[t]) {
                    w[r * tasks + t] = 1;
                } else if (weighting == Weights.DEFER) {
                    int dp = delayedHead[t];
                    // The share of the positives that come after c, in [0, 1] (1 also where p is 0).
                    double delayed = dp < 0 || p <= 0 ? 1 : Math.min(1, sigmoid(logits[r * tasks + dp]) / p);
                    double negatives = delayed == 1 ? 1 - p / 2 : 1 - p + delayed * p / 2;
                    w[r * tasks + t] = y > 0.5 ? 1 / (1 - delayed / 2) : negatives > 0 ? (1 - p) / negatives : 1;
                } else {
                    w[r * tasks + t] = y > 0.5 ? 1 + p : (1 - p) * (1 + p);
                }
            }
        }
        return w;
    }

    /** Per task, the rows of {@code b} that count for it, as {@link #evaluate} counts them, into {@code out}. */
    public void countRows(Batch b, int[] out) {
        for (int t = 0; t < tasks; t++) {
            out[t] = rowsOf(t, b, null);
        }
    }

    /**
     * The rows task {@code t}'s loss is a mean over: {@code terms.counted[t]} when given (a slice of
     * a batch), else the rows of {@code b} that count for it (for ESMM's conversion task, the rows
     * with conversion news; for a binary task, those its mask keeps with a label; for a regression
     * task, {@link #counts}).
     */
    private int rowsOf(int t, Batch b, Terms terms) {
        if (terms != null && terms.counted != null) {
            return terms.counted[t];
        }
        int n = 0;
        for (int r = 0; r < b.rows; r++) {
            boolean counts = t == cvr
                    ? !Float.isNaN(b.labels[cvr][r])
                    : losses[t] == TaskSpec.Loss.LOGLOSS
                            ? unmasked(b, maskOf[t], r) && !Float.isNaN(b.labels[t][r])
                            : counts(t, b, r);
            n += counts ? 1 : 0;
        }
        return n;
    }

    /** Whether row {@code r} counts for a task masked by {@code m} (NaN mask label: clicked). */
    private static boolean unmasked(Batch b, int m, int r) {
        return m < 0 || !(b.labels[m][r] <= 0.5f);
    }

    public boolean esmm() {
        return ctr >= 0;
    }

    /**
     * Computes the loss of a batch and its gradient with respect to the logits.
     *
     * @param logits [rows, tasks] row-major
     * @param dLogits receives dLoss/dLogits, [rows, tasks] row-major
     * @param taskLoss receives each task's loss (for ESMM the CVR slot holds the CTCVR loss)
     * @return the total loss
     */
    public double evaluate(double[] logits, Batch b, double[] dLogits, double[] taskLoss) {
        return evaluate(logits, b, fakeNegativeWeights() ? fakeNegativeWeights(logits, b) : null, dLogits, taskLoss);
    }

    /**
     * As {@link #evaluate(double[], Batch, double[], double[])} with given weights per row and task
     * ([rows, tasks] row-major, constants of the loss; null: all 1).
     */
    public double evaluate(double[] logits, Batch b, double[] weights, double[] dLogits, double[] taskLoss) {
        return evaluate(logits, b, weights, null, dLogits, taskLoss);
    }

    /**
     * As {@link #evaluate(double[], Batch, double[], double[], double[])} with the per-task {@code
     * terms} (null: no log-normal task, every factor 1): each task's fixed weight multiplied by its
     * {@code scale}, as uncertainty weighting does; {@code taskLoss} receives the unweighted losses.
     */
    public double evaluate(
            double[] logits, Batch b, double[] weights, Terms terms, double[] dLogits, double[] taskLoss) {
        int rows = b.rows;
        java.util.Arrays.fill(dLogits, 0, rows * tasks, 0.0);
        double total = 0;
        for (int t = 0; t < tasks; t++) {
            double w = taskWeights[t] * (terms == null ? 1 : terms.scale[t]);
            double loss = t == cvr
                    ? ctcvr(logits, b, weights, w, dLogits, terms)
                    : losses[t] == TaskSpec.Loss.LOGLOSS
                            ? bce(t, logits, b, weights, w, dLogits, terms)
                            : regression(t, logits, b, weights, w, dLogits, terms);
            taskLoss[t] = loss;
            total += w * loss;
        }
        return total;
    }

    private double bce(
            int t, double[] logits, Batch b, double[] weights, double taskWeight, double[] dLogits, Terms terms) {
        int rows = b.rows;
        int m = maskOf[t];
        int n = rowsOf(t, b, terms);
        if (terms != null) {
            terms.rows[t] = n;
        }
        if (n == 0) {
            return 0;
        }
        double loss = 0;
        for (int r = 0; r < rows; r++) {
            if (!unmasked(b, m, r) || Float.isNaN(b.labels[t][r])) {
                continue;
            }
            double z = logits[r * tasks + t];
            double y = b.labels[t][r];
            double p = sigmoid(z);
            double w = weights == null ? 1 : weights[r * tasks + t];
            loss += w * (Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z))));
            dLogits[r * tasks + t] += taskWeight * w * (p - y) / n;
        }
        return loss / n;
    }

    private double ctcvr(double[] logits, Batch b, double[] weights, double taskWeight, double[] dLogits, Terms terms) {
        int rows = b.rows;
        int n = rowsOf(cvr, b, terms);
        if (terms != null) {
            terms.rows[cvr] = n;
        }
        if (n == 0) {
            return 0;
        }
        double loss = 0;
        for (int r = 0; r < rows; r++) {
            float conversion = b.labels[cvr][r];
            if (Float.isNaN(conversion)) {
                continue;
            }
            double z1 = logits[r * tasks + ctr];
            double z2 = logits[r * tasks + cvr];
            double y = ctcvrTarget(b, ctr, cvr, r);
            double s1 = sigmoid(z1);
            double q1 = sigmoid(-z1);
            double s2 = sigmoid(z2);
            double q2 = sigmoid(-z2);
            double p = s1 * s2;
            double oneMinusP = q1 + s1 * q2;
            double logP = -softplus(-z1) - softplus(-z2);
            double w = weights == null ? 1 : weights[r * tasks + cvr];
            loss += w * (-y * logP - (1 - y) * Math.log(oneMinusP));
            double common = taskWeight * w * (p - y) / oneMinusP / n;
            if (!detachCtr) {
                dLogits[r * tasks + ctr] += q1 * common;
            }
            dLogits[r * tasks + cvr] += q2 * common;
        }
        return loss / n;
    }

    /** Whether row {@code r} counts for regression task {@code t}. */
    private boolean counts(int t, Batch b, int r) {
        float y = b.labels[t][r];
        return unmasked(b, maskOf[t], r) && !Float.isNaN(y) && (losses[t] != TaskSpec.Loss.LOGNORMAL || y > 0);
    }

    private double regression(
            int t, double[] logits, Batch b, double[] weights, double taskWeight, double[] dLogits, Terms terms) {
        boolean logNormal = losses[t] == TaskSpec.Loss.LOGNORMAL;
        if (logNormal && terms == null) {
            throw new IllegalArgumentException("a log-normal task needs its log-variance (Terms)");
        }
        int n = rowsOf(t, b, terms);
        if (terms != null) {
            terms.rows[t] = n;
            terms.dLogVariance[t] = 0;
        }
        if (n == 0) {
            return 0;
        }
        double s = logNormal ? terms.logVariance[t] : 0;
        double v = Math.exp(s);
        double loss = 0;
        double ds = 0;
        for (int r = 0; r < b.rows; r++) {
            if (!counts(t, b, r)) {
                continue;
            }
            double z = logits[r * tasks + t];
            double y = b.labels[t][r];
            double w = weights == null ? 1 : weights[r * tasks + t];
            if (logNormal) {
                double e = Math.log(y) - z;
                loss += w * (0.5 * s + e * e / (2 * v));
                dLogits[r * tasks + t] += taskWeight * w * (-e / v) / n;
                ds += w * (0.5 - e * e / (2 * v));
            } else {
                double e = z - y;
                loss += w * e * e;
                dLogits[r * tasks + t] += taskWeight * w * 2 * e / n;
            }
        }
        if (logNormal) {
            terms.dLogVariance[t] = taskWeight * ds / n;
        }
        return loss / n;
    }

    /**
     * Row {@code r}'s CTCVR target, click x conversion; a NaN click label (a later conversion, which
     * only follows a click) counts as clicked. The row must have a conversion label.
     */
    static double ctcvrTarget(Batch b, int ctr, int cvr, int r) {
        return ctcvrTarget(b.labels[ctr][r], b.labels[cvr][r]);
    }

    /** The CTCVR target of a click label (NaN: clicked) and a conversion label. */
    static double ctcvrTarget(float click, float conversion) {
        return (Float.isNaN(click) ? 1 : click) * conversion;
    }

    /** Numerically stable logistic function. */
    public static double sigmoid(double z) {
        if (z >= 0) {
            return 1 / (1 + Math.exp(-z));
        }
        double e = Math.exp(z);
        return e / (1 + e);
    }

    private static double softplus(double z) {
        return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
    }
}
