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
 */
public record Architecture(
        Variant variant,
        int experts,
        List<Integer> expertHidden,
        List<Integer> gateHidden,
        List<Integer> towerHidden,
        boolean esmm) {

    public Architecture {
        expertHidden = List.copyOf(expertHidden);
        gateHidden = List.copyOf(gateHidden);
        towerHidden = List.copyOf(towerHidden);
    }

    public static Architecture defaults() {
        return new Architecture(Variant.MMOE, 3, List.of(256, 128), List.of(), List.of(64), true);
    }

    public Architecture withVariant(Variant v) {
        return new Architecture(v, experts, expertHidden, gateHidden, towerHidden, esmm);
    }

    public Architecture withEsmm(boolean on) {
        return new Architecture(variant, experts, expertHidden, gateHidden, towerHidden, on);
    }
}
