package org.mmoestream.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.mmoestream.testing.TestSpecs;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Gate health from a forward pass: mean weight per expert, mean entropy and the share of examples
 * whose largest gate weight is above 0.9, per task, as computed from the gate probabilities; merged
 * sums (from replicas) carry the weights but not the entropy.
 */
class GateStatisticsTest {
    @Test
    void meanWeightEntropyAndPolarizedShareFollowTheGates() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        MmoeModel model = MmoeModel.create(spec, 3, DataType.DOUBLE);
        // Sharpen task 0's gate (its weights x 200): for nearly every input one expert takes it all.
        MmoeNetwork net = model.network();
        for (ParamLayout.Entry e : net.layout().entries()) {
            if (e.name().equals("gate." + spec.tasks().get(0).name() + ".weight")) {
                for (int i = e.offset(); i < e.offset() + e.size(); i++) {
                    net.paramAccess().set(i, 200 * net.paramAccess().get(i));
                }
            }
        }
        Batch b = TestSpecs.batch(spec, 40, 5);
        MmoeNetwork.Buffers buf = model.forward(b);
        GateStatistics g = new GateStatistics(spec.tasks().size(), net.experts());
        g.add(net, buf);
        for (int t = 0; t < spec.tasks().size(); t++) {
            int gate = net.gateOfTask(t);
            double[] weight = new double[net.experts()];
            double entropy = 0;
            int polarized = 0;
            for (int r = 0; r < b.rows(); r++) {
                double max = 0;
                for (int e = 0; e < net.experts(); e++) {
                    double v = buf.gateProbability(gate, r, e);
                    weight[e] += v / b.rows();
                    entropy -= v > 0 ? v * Math.log(v) / b.rows() : 0;
                    max = Math.max(max, v);
                }
                polarized += max > 0.9 ? 1 : 0;
            }
            for (int e = 0; e < net.experts(); e++) {
                assertEquals(weight[e], g.meanWeight(t, e), 1e-12);
            }
            assertEquals(entropy, g.meanEntropy(t), 1e-12);
            assertEquals((double) polarized / b.rows(), g.polarizedShare(t), 1e-12);
        }
        assertTrue(g.polarizedShare(0) > 0.9, "task 0's sharpened gate picks one expert: " + g.polarizedShare(0));
        assertTrue(g.polarizedShare(1) < 0.5, "task 1's gate mixes: " + g.polarizedShare(1));

        GateStatistics merged = new GateStatistics(spec.tasks().size(), net.experts());
        merged.addSums(g.sums(), g.rows());
        assertEquals(g.meanWeight(1, 1), merged.meanWeight(1, 1), 1e-12);
        assertTrue(Double.isNaN(merged.meanEntropy(0)), "entropy is not merged, so it is unknown, not 0");
    }
}
