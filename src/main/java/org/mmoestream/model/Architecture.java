package org.mmoestream.model;

import java.util.List;

/**
 * Network shape. Defaults follow DeepCTR's MMOE: 3 experts of [256, 128] ReLU, linear softmax
 * gates, towers of [64], ESMM on for ctr/cvr. Build one from a spec ({@code SpecLoader}), or with
 * {@link #builder()} / {@link #toBuilder()}; the {@code with...} methods change one setting.
 *
 * @param variant which architecture
 * @param experts number of experts (MMoE/OMoE)
 * @param expertHidden expert (or shared bottom) layer widths
 * @param gateHidden optional hidden layers of each gate before its linear softmax layer
 * @param towerHidden tower layer widths before the one-unit output
 * @param esmm whether pCTCVR = pCTR x pCVR is trained on all impressions (needs ctr and cvr tasks)
 * @param sharedExperts PLE: experts every task's gate weighs (0 for other variants)
 * @param taskExperts PLE: experts of each task, weighed by its gate only (0 for other variants)
 * @param levels PLE: extraction levels, 1 (CGC) or more stacked (0 for other variants)
 * @param gateDropout in training, the probability that a gate drops an expert from an example's
 *     mixture (its softmax renormalized over the experts kept), as in the MMoE ranker of Zhao et al.
 *     (RecSys 2019), against gates that polarize onto one expert; 0: off. Inference keeps every expert.
 * @param dropout in training, the probability that an output of a ReLU layer of an expert or a
 *     tower is zeroed (the others scaled by 1 / (1 - dropout)); 0: off. Inference keeps every unit.
 * @param biasTower the shallow tower on the bias features, or null without bias features
 * @param fakeNegativeCalibration whether the binary heads were trained on fake negatives without
 *     weights ({@code join.feedback: fnc}, Ktena et al., RecSys 2019): a head's raw output b is then
 *     p / (1 + p), and the model serves p = b / (1 - b)
 * @param activation the hidden layers' nonlinearity (null, as in a snapshot written before the
 *     choice: ReLU)
 * @param batchNorm whether the experts' and towers' hidden layers are batch-normalized before their
 *     nonlinearity (running statistics in the snapshot; see {@code MmoeNetwork}'s BatchNorm)
 * @param uncertaintyWeighting whether each task's loss is weighted by a learned exp(-s_t), plus s_t /
 *     2 (Kendall et al., CVPR 2018), s_t = log sigma_t^2 in the dense tensor {@code
 *     loss.log_variance}; else by the tasks' fixed weights alone
 * @param esmmDetachCtr with ESMM, whether the CTCVR loss holds pCTR as a constant, so that it trains
 *     the CVR tower alone and pCTR learns from the clicks only; else (the paper's ESMM) it trains both
 */
public record Architecture(
        Variant variant,
        int experts,
        List<Integer> expertHidden,
        List<Integer> gateHidden,
        List<Integer> towerHidden,
        boolean esmm,
        int sharedExperts,
        int taskExperts,
        int levels,
        double gateDropout,
        boolean uncertaintyWeighting,
        double dropout,
        BiasTower biasTower,
        boolean fakeNegativeCalibration,
        Activation activation,
        boolean batchNorm,
        boolean esmmDetachCtr) {

    public Architecture {
        if (activation == null || activation == Activation.NONE) {
            activation = Activation.RELU;
        }
        if (!(gateDropout >= 0 && gateDropout < 1)) {
            throw new IllegalArgumentException("gate dropout must be in [0, 1), got " + gateDropout);
        }
        if (!(dropout >= 0 && dropout < 1)) {
            throw new IllegalArgumentException("dropout must be in [0, 1), got " + dropout);
        }
        expertHidden = List.copyOf(expertHidden);
        gateHidden = List.copyOf(gateHidden);
        towerHidden = List.copyOf(towerHidden);
    }

    /** An architecture other than PLE. */
    public Architecture(
            Variant variant,
            int experts,
            List<Integer> expertHidden,
            List<Integer> gateHidden,
            List<Integer> towerHidden,
            boolean esmm) {
        this(variant, experts, expertHidden, gateHidden, towerHidden, esmm, 0, 0, 0);
    }

    /** An architecture without dropout, bias tower or other options, with fixed task weights. */
    public Architecture(
            Variant variant,
            int experts,
            List<Integer> expertHidden,
            List<Integer> gateHidden,
            List<Integer> towerHidden,
            boolean esmm,
            int sharedExperts,
            int taskExperts,
            int levels) {
        this(
                variant,
                experts,
                expertHidden,
                gateHidden,
                towerHidden,
                esmm,
                sharedExperts,
                taskExperts,
                levels,
                0,
                false,
                0,
                null,
                false,
                Activation.RELU,
                false,
                false);
    }

    public static Architecture defaults() {
        return new Architecture(Variant.MMOE, 3, List.of(256, 128), List.of(), List.of(64), true);
    }

    /** A builder from {@link #defaults()}. */
    public static Builder builder() {
        return defaults().toBuilder();
    }

    /** A builder holding this architecture's settings. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    public Architecture withVariant(Variant v) {
        return toBuilder().variant(v).build();
    }

    public Architecture withEsmm(boolean on) {
        return toBuilder().esmm(on).build();
    }

    public Architecture withGateDropout(double rate) {
        return toBuilder().gateDropout(rate).build();
    }

    public Architecture withDropout(double rate) {
        return toBuilder().dropout(rate).build();
    }

    public Architecture withUncertaintyWeighting(boolean on) {
        return toBuilder().uncertaintyWeighting(on).build();
    }

    public Architecture withBiasTower(BiasTower tower) {
        return toBuilder().biasTower(tower).build();
    }

    public Architecture withFakeNegativeCalibration(boolean on) {
        return toBuilder().fakeNegativeCalibration(on).build();
    }

    public Architecture withActivation(Activation a) {
        return toBuilder().activation(a).build();
    }

    public Architecture withBatchNorm(boolean on) {
        return toBuilder().batchNorm(on).build();
    }

    public Architecture withEsmmDetachCtr(boolean on) {
        return toBuilder().esmmDetachCtr(on).build();
    }

    /** Settings by name; {@link #build()} validates them as the record does. */
    public static final class Builder {
        private Variant variant;
        private int experts;
        private List<Integer> expertHidden;
        private List<Integer> gateHidden;
        private List<Integer> towerHidden;
        private boolean esmm;
        private int sharedExperts;
        private int taskExperts;
        private int levels;
        private double gateDropout;
        private boolean uncertaintyWeighting;
        private double dropout;
        private BiasTower biasTower;
        private boolean fakeNegativeCalibration;
        private Activation activation;
        private boolean batchNorm;
        private boolean esmmDetachCtr;

        private Builder(Architecture a) {
            variant = a.variant;
            experts = a.experts;
            expertHidden = a.expertHidden;
            gateHidden = a.gateHidden;
            towerHidden = a.towerHidden;
            esmm = a.esmm;
            sharedExperts = a.sharedExperts;
            taskExperts = a.taskExperts;
            levels = a.levels;
            gateDropout = a.gateDropout;
            uncertaintyWeighting = a.uncertaintyWeighting;
            dropout = a.dropout;
            biasTower = a.biasTower;
            fakeNegativeCalibration = a.fakeNegativeCalibration;
            activation = a.activation;
            batchNorm = a.batchNorm;
            esmmDetachCtr = a.esmmDetachCtr;
        }

        public Builder variant(Variant v) {
            variant = v;
            return this;
        }

        public Builder experts(int n) {
            experts = n;
            return this;
        }

        public Builder expertHidden(List<Integer> widths) {
            expertHidden = widths;
            return this;
        }

        public Builder gateHidden(List<Integer> widths) {
            gateHidden = widths;
            return this;
        }

        public Builder towerHidden(List<Integer> widths) {
            towerHidden = widths;
            return this;
        }

        public Builder esmm(boolean on) {
            esmm = on;
            return this;
        }

        /** PLE's shared experts, experts per task and levels. */
        public Builder ple(int shared, int perTask, int levelCount) {
            sharedExperts = shared;
            taskExperts = perTask;
            levels = levelCount;
            return this;
        }

        public Builder gateDropout(double rate) {
            gateDropout = rate;
            return this;
        }

        public Builder uncertaintyWeighting(boolean on) {
            uncertaintyWeighting = on;
            return this;
        }

        public Builder dropout(double rate) {
            dropout = rate;
            return this;
        }

        public Builder biasTower(BiasTower tower) {
            biasTower = tower;
            return this;
        }

        public Builder fakeNegativeCalibration(boolean on) {
            fakeNegativeCalibration = on;
            return this;
        }

        public Builder activation(Activation a) {
            activation = a;
            return this;
        }

        public Builder batchNorm(boolean on) {
            batchNorm = on;
            return this;
        }

        public Builder esmmDetachCtr(boolean on) {
            esmmDetachCtr = on;
            return this;
        }

        public Architecture build() {
            return new Architecture(
                    variant,
                    experts,
                    expertHidden,
                    gateHidden,
                    towerHidden,
                    esmm,
                    sharedExperts,
                    taskExperts,
                    levels,
                    gateDropout,
                    uncertaintyWeighting,
                    dropout,
                    biasTower,
                    fakeNegativeCalibration,
                    activation,
                    batchNorm,
                    esmmDetachCtr);
        }
    }
}
