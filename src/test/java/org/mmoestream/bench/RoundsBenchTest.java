package org.mmoestream.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.Variant;
import org.mmoestream.testing.TestSpecs;
import org.nd4j.linalg.api.buffer.DataType;

class RoundsBenchTest {
    /**
     * A cut ends a batch there and the next batch of 256 starts at it: one cut at c makes ceil(c /
     * 256) + ceil((1000 - c) / 256) steps of 1,000 examples; more cuts make at most one step more
     * each; every example is trained once.
     */
    @Test
    void aCutEndsABatchAndTheNextStartsThere() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        List<EncodedExample> xs = TestSpecs.examples(spec, 1000, 3);
        for (int cuts : new int[] {0, 1, 5, 40}) {
            MmoeModel m = MmoeModel.create(spec, 1, DataType.FLOAT);
            RoundsBench.trainCut(m, xs, cuts, new Random(cuts));
            assertEquals(xs.size(), m.examplesSeen(), cuts + " cuts");
            if (cuts == 0) {
                assertEquals(4, m.step());
            } else if (cuts == 1) {
                int c = 1 + new Random(1).nextInt(xs.size() - 1);
                assertEquals((c + 255) / 256 + (xs.size() - c + 255) / 256, m.step(), "cut at " + c);
            } else {
                assertTrue(m.step() > 4 && m.step() <= 4 + cuts, m.step() + " steps with " + cuts + " cuts");
            }
        }
    }
}
