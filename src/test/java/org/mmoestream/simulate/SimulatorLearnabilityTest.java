package org.mmoestream.simulate;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.Batch;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.Heads;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.SlidingMetrics;
import org.mmoestream.model.SpecLoader;
import org.mmoestream.model.TaskMetrics;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The simulator's signal is learnable by the example spec: a progressive pass reaches most of the
 * oracle's AUC (the oracle scores with the true probabilities).
 */
class SimulatorLearnabilityTest {
    @Test
    void progressiveAucApproachesTheOracle() {
        ModelSpec spec = SpecLoader.load(Path.of("examples/ctr-cvr.yaml"));
        ExampleEncoder enc = new ExampleEncoder(spec);
        Simulator sim = new Simulator(7, 300, 100, 0.5);
        MmoeModel m = MmoeModel.create(spec, 42, DataType.FLOAT);
        SlidingMetrics[] prog = {new SlidingMetrics(10_000), new SlidingMetrics(10_000), new SlidingMetrics(10_000)};
        TaskMetrics oracleCtr = new TaskMetrics();
        TaskMetrics oracleCvr = new TaskMetrics();
        int n = 60_000;
        List<EncodedExample> batch = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Simulator.Impression imp = sim.next(1_700_000_000_000L + i, 1000, 1000);
            batch.add(enc.encode(imp.featuresJson(), imp.clicked() ? 1 : 0, imp.converted() ? 1 : 0));
            if (i >= n - 10_000) {
                oracleCtr.add(imp.pClick(), imp.clicked());
                if (imp.clicked()) {
                    oracleCvr.add(imp.pConversion(), imp.converted());
                }
            }
            if (batch.size() == 64) {
                Batch b = Batch.of(batch);
                double[][] p = m.trainStep(b).predictions();
                Heads.visit(spec, b, p, (h, q, y) -> prog[h].add(q, y));
                batch.clear();
            }
        }
        System.out.printf(
                "progressive ctr %.4f cvr %.4f ctcvr %.4f; oracle ctr %.4f cvr %.4f%n",
                prog[0].auc(), prog[1].auc(), prog[2].auc(), oracleCtr.auc(), oracleCvr.auc());
        assertTrue(
                oracleCtr.auc() > 0.80 && oracleCvr.auc() > 0.80, "oracle " + oracleCtr.auc() + " " + oracleCvr.auc());
        assertTrue(prog[0].auc() > oracleCtr.auc() - 0.06, "ctr " + prog[0].auc());
        assertTrue(prog[1].auc() > oracleCvr.auc() - 0.08, "cvr " + prog[1].auc());
    }
}
