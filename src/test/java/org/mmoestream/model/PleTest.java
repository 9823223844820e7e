package org.mmoestream.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.config.InputException;
import org.mmoestream.model.codec.SpecJson;
import org.mmoestream.testing.TestSpecs;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * {@code variant: ple}: shared experts and each task's own, each task's gate weighing the shared
 * experts and its own only (CGC); stacked levels reading the mixtures of the level below; read
 * from a spec, kept in the snapshot's spec.
 */
class PleTest {
    @TempDir
    Path dir;

    private ModelSpec load(String model) throws Exception {
        return TestSpecs.yaml(
                dir,
                "name: ple",
                "features:",
                "  sparse:",
                "    - {name: user, buckets: 50}",
                "    - {name: item, buckets: 50}",
                "  dense:",
                "    - {name: price, transform: standardize}",
                "tasks:",
                "  - {name: ctr, label: click}",
                "  - {name: cvr, label: conversion}",
                "model:",
                model);
    }

    @Test
    void eachGateWeighsTheSharedExpertsAndItsTasksOwn() throws Exception {
        ModelSpec spec = load(
                "  {variant: ple, shared_experts: 2, task_experts: 2, expert_hidden: [8], " + "tower_hidden: [4]}");
        assertEquals(6, spec.architecture().experts(), "2 shared + 2 tasks x 2");
        assertEquals(spec, SpecJson.read(SpecJson.write(spec)), "the spec survives the snapshot's JSON");
        MmoeModel m = MmoeModel.create(spec, 3, DataType.FLOAT);
        Batch b = TestSpecs.batch(spec, 16, 4);
        MmoeNetwork.Buffers buf = m.forward(b);
        for (int g = 0; g < 2; g++) {
            for (int r = 0; r < b.rows(); r++) {
                double sum = 0;
                for (int e = 0; e < 6; e++) {
                    double p = buf.gateProbability(g, r, e);
                    boolean allowed = e < 2 || (e - 2) / 2 == g;
                    assertTrue(allowed ? p > 0 : p == 0, "gate " + g + " expert " + e + ": " + p);
                    sum += p;
                }
                assertEquals(1.0, sum, 1e-6);
            }
        }
        // Training moves the model and the masked experts stay out of the other task's gate.
        double before = m.loss(b);
        for (int i = 0; i < 30; i++) {
            m.trainStep(b);
        }
        assertTrue(m.loss(b) < before, m.loss(b) + " vs " + before);
        assertEquals(0.0, m.forward(b).gateProbability(0, 0, 4));
    }

    @Test
    void stackedLevelsReadTheMixturesOfTheLevelBelow() throws Exception {
        ModelSpec spec = load("  {variant: ple, shared_experts: 2, task_experts: 1, levels: 3, expert_hidden: [8, 6],"
                + " tower_hidden: [4]}");
        assertEquals(3, spec.architecture().levels());
        assertEquals(spec, SpecJson.read(SpecJson.write(spec)), "the spec survives the snapshot's JSON");
        MmoeModel m = MmoeModel.create(spec, 3, DataType.FLOAT);
        ParamLayout layout = m.network().layout();
        int in = m.network().inputDim();
        // Level 1 reads the input under CGC's names, with a shared gate over all 4 experts.
        assertEquals(8, layout.get("expert.0.layer.0.weight").rows());
        assertEquals(in, layout.get("expert.3.layer.0.weight").cols());
        assertEquals(4, layout.get("gate.shared.weight").rows());
        assertEquals(in, layout.get("gate.shared.weight").cols());
        // Levels 2 and 3 read the 6-wide mixtures; only level 2 (not the top) has a shared gate.
        for (String name : List.of(
                "level.2.expert.0.layer.0.weight",
                "level.2.gate.ctr.weight",
                "level.2.gate.shared.weight",
                "level.3.expert.3.layer.0.weight",
                "level.3.gate.cvr.weight")) {
            assertEquals(6, layout.get(name).cols(), name);
        }
        assertThrows(IllegalArgumentException.class, () -> layout.get("level.3.gate.shared.weight"));
        // Memory: level 1, then 2, then the top with its towers.
        assertTrue(layout.get("gate.shared.weight").offset()
                < layout.get("level.2.expert.0.layer.0.weight").offset());
        assertTrue(layout.get("level.2.gate.shared.weight").offset()
                < layout.get("level.3.expert.0.layer.0.weight").offset());
        assertTrue(layout.get("level.3.gate.cvr.weight").offset()
                < layout.get("tower.ctr.out.weight").offset());

        Batch b = TestSpecs.batch(spec, 16, 4);
        double before = m.loss(b);
        for (int i = 0; i < 30; i++) {
            m.trainStep(b);
        }
        assertTrue(m.loss(b) < before, m.loss(b) + " vs " + before);
        // Every level learns: a weight of each moved from its initial value.
        MmoeModel fresh = MmoeModel.create(spec, 3, DataType.FLOAT);
        for (String name :
                List.of("expert.0.layer.0.weight", "level.2.gate.shared.weight", "level.3.gate.ctr.weight")) {
            ParamLayout.Entry e = layout.get(name);
            double moved = 0;
            for (int i = e.offset(); i < e.offset() + e.size(); i++) {
                moved += Math.abs(m.network().paramAccess().get(i)
                        - fresh.network().paramAccess().get(i));
            }
            assertTrue(moved > 0, name + " did not move");
        }
        // The top level's gates keep CGC's mask: task 0's gate gives task 1's expert (3) nothing.
        assertEquals(0.0, m.forward(b).gateProbability(0, 0, 3));
    }

    @Test
    void aTasksExpertsAndGateAboveLevelOneReadThatTasksMixtureOnly() throws Exception {
        ModelSpec spec = load("  {variant: ple, shared_experts: 1, task_experts: 1, levels: 2, expert_hidden: [8],"
                + " tower_hidden: [4], esmm: false}");
        MmoeModel m = MmoeModel.create(spec, 5, DataType.DOUBLE);
        NdAccess p = m.network().paramAccess();
        // With level 2's shared expert silenced, the ctr head sees level 1 only through ctr's mixture.
        zero(p, m.network().layout().get("level.2.expert.0.layer.0.weight"));
        Batch b = TestSpecs.batch(spec, 8, 4);
        double[] base = m.forward(b).logits().clone();
        for (String gate : List.of("gate.cvr.weight", "gate.ctr.weight", "gate.shared.weight")) {
            ParamLayout.Entry e = m.network().layout().get(gate);
            // The row of expert 0 (shared; every gate weighs it): a change to all rows would leave the softmax.
            for (int i = e.offset(); i < e.offset() + e.cols(); i++) {
                p.set(i, p.get(i) + 0.5);
            }
            double[] z = m.forward(b).logits();
            double ctr = 0;
            double cvr = 0;
            for (int r = 0; r < b.rows(); r++) {
                ctr += Math.abs(z[r * 2] - base[r * 2]);
                cvr += Math.abs(z[r * 2 + 1] - base[r * 2 + 1]);
            }
            for (int i = e.offset(); i < e.offset() + e.cols(); i++) {
                p.set(i, p.get(i) - 0.5);
            }
            boolean ctrMoved = ctr > 1e-6;
            boolean cvrMoved = cvr > 1e-6;
            assertTrue(ctrMoved || ctr < 1e-12, gate + ": ctr " + ctr);
            assertTrue(cvrMoved || cvr < 1e-12, gate + ": cvr " + cvr);
            assertEquals(gate.equals("gate.ctr.weight"), ctrMoved, gate + ": ctr " + ctr);
            assertEquals(gate.equals("gate.cvr.weight"), cvrMoved, gate + ": cvr " + cvr);
        }
    }

    private static void zero(NdAccess p, ParamLayout.Entry e) {
        for (int i = e.offset(); i < e.offset() + e.size(); i++) {
            p.set(i, 0);
        }
    }

    @Test
    void badLevelsAndPleKeysOnOtherVariantsAreRefused() {
        InputException noShared = assertThrows(
                InputException.class, () -> load("  {variant: ple, shared_experts: 0, levels: 2, expert_hidden: [8]}"));
        assertTrue(
                noShared.getMessage().contains("model.levels")
                        && noShared.getMessage().contains("shared_experts"),
                noShared.getMessage());
        InputException many = assertThrows(
                InputException.class, () -> load("  {variant: ple, shared_experts: 1, levels: 9, expert_hidden: [8]}"));
        assertTrue(many.getMessage().contains("at most 8"), many.getMessage());
        InputException other = assertThrows(InputException.class, () -> load("  {variant: mmoe, task_experts: 2}"));
        assertTrue(
                other.getMessage().contains("model.task_experts")
                        && other.getMessage().contains("ple only"),
                other.getMessage());
    }
}
