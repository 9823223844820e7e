package org.mmoestream.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.config.InputException;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.model.codec.Snapshots;
import org.mmoestream.model.codec.SpecJson;
import org.mmoestream.testing.TestSpecs;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Task weights: fixed ({@code tasks[].weight}) and learned ({@code model.loss_weighting:
 * uncertainty}, log-variances in the dense tensor {@code loss.log_variance}, in the snapshot). The
 * gradients are checked in {@link GradientCheckTest}.
 */
class TaskWeightsTest {
    @TempDir
    Path dir;

    private ModelSpec load(String ctr, String model) throws Exception {
        return TestSpecs.yaml(
                dir,
                "name: weights",
                "features:",
                "  sparse:",
                "    - {name: user, buckets: 50}",
                "    - {name: item, buckets: 50}",
                "tasks:",
                "  - {name: ctr, label: click" + ctr + "}",
                "  - {name: cvr, label: conversion}",
                "model:",
                model);
    }

    @Test
    void theSpecReadsWeightsAndRefusesWhatItCannotUse() throws Exception {
        ModelSpec spec = load(", weight: 2.5", "  {expert_hidden: [8], loss_weighting: uncertainty}");
        assertEquals(2.5, spec.tasks().get(0).weight());
        assertEquals(1.0, spec.tasks().get(1).weight());
        assertTrue(spec.architecture().uncertaintyWeighting());
        assertEquals(spec, SpecJson.read(SpecJson.write(spec)), "both survive the snapshot's JSON");
        String old = SpecJson.write(spec).replaceAll(",\"weight\":[0-9.]+", "");
        assertEquals(1.0, SpecJson.read(old).tasks().get(0).weight(), "a spec written before weights: 1");
        InputException zero = assertThrows(InputException.class, () -> load(", weight: 0", "  {}"));
        assertTrue(zero.getMessage().contains("tasks[0].weight"), zero.getMessage());
        InputException mode = assertThrows(InputException.class, () -> load("", "  {loss_weighting: gradnorm}"));
        assertTrue(mode.getMessage().contains("model.loss_weighting"), mode.getMessage());
        assertNull(MmoeModel.create(load("", "  {expert_hidden: [8]}"), 1, DataType.FLOAT)
                .network()
                .logVariance());
    }

    @Test
    void aFixedWeightScalesItsTasksLossAndGradient() {
        // Without ESMM, so that the ctr logit carries the ctr loss alone.
        ModelSpec plain = TestSpecs.ctrCvr(Variant.MMOE, false, List.of());
        ModelSpec heavy = new ModelSpec(
                plain.name(),
                plain.features(),
                List.of(plain.tasks().get(0).withWeight(3), plain.tasks().get(1)),
                plain.architecture(),
                plain.optimizer(),
                plain.csv());
        Batch b = TestSpecs.batch(plain, 64, 1);
        MmoeModel a = MmoeModel.create(plain, 5, DataType.DOUBLE);
        MmoeModel w = MmoeModel.create(heavy, 5, DataType.DOUBLE);
        MmoeModel.Gradients ga = a.gradients(b);
        MmoeModel.Gradients gw = w.gradients(b);
        assertEquals(ga.taskLoss()[0], gw.taskLoss()[0], 1e-12, "per-task losses are reported unweighted");
        assertEquals(ga.loss() + 2 * ga.taskLoss()[0], gw.loss(), 1e-9, "the total weighs ctr 3x");
        // The ctr tower's output bias gets only the ctr loss's gradient: three times as much.
        int bias = a.network().layout().get("tower.ctr.out.bias").offset();
        assertEquals(
                3 * a.network().gradAccess().get(bias), w.network().gradAccess().get(bias), 1e-12);
    }

    @Test
    void learnedLogVariancesMoveAndSurviveTheSnapshot() {
        ModelSpec s = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        ModelSpec spec = s.withArchitecture(s.architecture().withUncertaintyWeighting(true));
        MmoeModel m = MmoeModel.create(spec, 5, DataType.FLOAT);
        ParamLayout.Entry lv = m.network().logVariance();
        assertEquals(2, lv.size());
        assertEquals(0.0, m.network().paramAccess().get(lv.offset()), "s starts at 0: weight 1");
        for (int i = 0; i < 20; i++) {
            m.trainStep(TestSpecs.batch(spec, 64, i));
        }
        double s0 = m.network().paramAccess().get(lv.offset());
        double s1 = m.network().paramAccess().get(lv.offset() + 1);
        assertNotEquals(0.0, s0);
        assertNotEquals(s0, s1, "each task learns its own");
        SnapshotState reader = new SnapshotState();
        Snapshots.Meta meta = new Snapshots.Meta("m1", 1, Snapshots.FULL, 0, 20 * 64, 1L, "{}");
        assertTrue(reader.apply(Snapshots.full(m, meta, Snapshots.tablesOf(m))));
        assertEquals(s0, reader.model().network().paramAccess().get(lv.offset()));
        assertEquals(s1, reader.model().network().paramAccess().get(lv.offset() + 1));
    }
}
