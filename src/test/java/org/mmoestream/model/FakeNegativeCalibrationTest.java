package org.mmoestream.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.mmoestream.config.JobConfig;
import org.mmoestream.job.PipelineJob;
import org.mmoestream.model.codec.SpecJson;
import org.mmoestream.testing.TestSpecs;
import org.mmoestream.train.TrainOperator;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * {@code join.feedback: fnc}: the trainer's spec says its heads learned fake-negative-biased b = p /
 * (1 + p), and every model built from that spec serves p = b / (1 - b) (with ESMM: CTR and CTCVR so,
 * CVR their ratio).
 */
class FakeNegativeCalibrationTest {
    @Test
    void aModelOfAnFncSpecServesTheCalibratedProbabilities() {
        for (boolean esmm : new boolean[] {true, false}) {
            ModelSpec plain = TestSpecs.ctrCvr(Variant.MMOE, esmm, List.of());
            ModelSpec fnc = plain.withArchitecture(plain.architecture().withFakeNegativeCalibration(true));
            assertEquals(fnc, SpecJson.read(SpecJson.write(fnc)), "the spec carries it to every reader");
            MmoeModel a = MmoeModel.create(plain, 3, DataType.DOUBLE);
            MmoeModel b = MmoeModel.create(fnc, 3, DataType.DOUBLE);
            Batch batch = TestSpecs.batch(plain, 50, 1);
            double[][] raw = a.predict(batch);
            double[][] served = b.predict(batch);
            for (int r = 0; r < 50; r++) {
                // b of 0.5 or more is p of 1 or more: served as 1 (an untrained model's outputs are near 0.5).
                double ctr = Math.min(1, raw[0][r] / (1 - raw[0][r]));
                assertEquals(ctr, served[0][r], 1e-12);
                if (esmm) {
                    double ctcvr = raw[2][r] / (1 - raw[2][r]);
                    assertEquals(Math.min(1, ctcvr), served[2][r], 1e-12);
                    assertEquals(Math.min(1, ctcvr / ctr), served[1][r], 1e-12);
                } else {
                    assertEquals(Math.min(1, raw[1][r] / (1 - raw[1][r])), served[1][r], 1e-12);
                }
            }
        }
    }

    @Test
    void thePipelineTrainsFncUnweightedAndStampsTheSpec() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        for (String mode : new String[] {"fnc", "fnw", "defer", "wait"}) {
            JobConfig cfg = JobConfig.of(Map.of("join.feedback", mode, "train.order", "arrival"));
            TrainOperator.Settings s = PipelineJob.trainSettings(cfg, spec);
            boolean calibrated = SpecJson.read(s.specJson()).architecture().fakeNegativeCalibration();
            assertEquals(mode.equals("fnc"), calibrated, mode);
            Objective.Weights w = switch (mode) {
                case "fnw" -> Objective.Weights.FAKE_NEGATIVE;
                case "defer" -> Objective.Weights.DEFER;
                default -> Objective.Weights.NONE;
            };
            assertEquals(w, s.feedbackWeights(), mode);
        }
        assertFalse(spec.architecture().fakeNegativeCalibration());
        assertTrue(JobConfig.of(Map.of("join.feedback", "fnc"))
                .string(JobConfig.Key.FEEDBACK)
                .equals("fnc"));
    }
}
