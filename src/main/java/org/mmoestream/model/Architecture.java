package org.mmoestream.model;

import java.util.List;

/**
 * Network shape. Defaults follow DeepCTR's MMOE: 3 experts of [256, 128] ReLU, linear softmax
 * gates, towers of [64], ESMM on for ctr/cvr.
 *
 * @param variant which architecture
 * @param experts number of experts (MMoE/OMoE)
 * @param expertHidden expert (or shared bottom) layer widths
 * @param gateHidden optional hidden layers of each gate before its linear softmax layer
 * @param towerHidden tower layer widths before the one-unit output
 * @param esmm whether pCTCVR = pCTR x pCVR is trained on all impressions (needs ctr and cvr tasks)
 * @param sharedExperts PLE: experts every task's gate weighs (0 for other variants)
 * @param taskExperts PLE: experts of each task, weighed by its gate only (0 for other variants)
 * @param levels PLE: extraction levels, 1 (CGC) for now (0 for other variants)
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
 * @param uncertaintyWeighting whether each task's loss is weighted by a learned exp(-s_t), plus s_t /
 *     2 (Kendall et al., CVPR 2018), s_t = log sigma_t^2 in the dense tensor {@code
 *     loss.log_variance}; else by the tasks' fixed weights alone
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
        Activation activation) {

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

    /** An architecture without dropout, with fixed task weights. */
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
                Activation.RELU);
    }

    public static Architecture defaults() {
        return new Architecture(Variant.MMOE, 3, List.of(256, 128), List.of(), List.of(64), true);
    }

    public Architecture withVariant(Variant v) {
        return new Architecture(
                v,
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
                activation);
    }

    public Architecture withEsmm(boolean on) {
        return new Architecture(
                variant,
                experts,
                expertHidden,
                gateHidden,
                towerHidden,
                on,
                sharedExperts,
                taskExperts,
                levels,
                gateDropout,
                uncertaintyWeighting,
                dropout,
                biasTower,
                fakeNegativeCalibration,
                activation);
    }

    public Architecture withGateDropout(double rate) {
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
                rate,
                uncertaintyWeighting,
                dropout,
                biasTower,
                fakeNegativeCalibration,
                activation);
    }

    public Architecture withUncertaintyWeighting(boolean on) {
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
                on,
                dropout,
                biasTower,
                fakeNegativeCalibration,
                activation);
    }

    public Architecture withBiasTower(BiasTower tower) {
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
                tower,
                fakeNegativeCalibration,
                activation);
    }

    public Architecture withFakeNegativeCalibration(boolean on) {
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
                on,
                activation);
    }

    public Architecture withActivation(Activation a) {
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
                a);
    }

    public Architecture withDropout(double rate) {
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
                rate,
                biasTower,
                fakeNegativeCalibration,
                activation);
    }
}
