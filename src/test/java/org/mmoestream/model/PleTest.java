package org.mmoestream.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.config.InputException;
import org.mmoestream.model.codec.SpecJson;
import org.mmoestream.testing.TestSpecs;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * {@code variant: ple} (CGC): shared experts and each task's own, each task's gate weighing the
 * shared experts and its own only; read from a spec, kept in the snapshot's spec.
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
    void stackedLevelsAndPleKeysOnOtherVariantsAreRefused() {
        InputException levels =
                assertThrows(InputException.class, () -> load("  {variant: ple, levels: 2, expert_hidden: [8]}"));
        assertTrue(
                levels.getMessage().contains("model.levels")
                        && levels.getMessage().contains("CGC"),
                levels.getMessage());
        InputException other = assertThrows(InputException.class, () -> load("  {variant: mmoe, task_experts: 2}"));
        assertTrue(
                other.getMessage().contains("model.task_experts")
                        && other.getMessage().contains("ple only"),
                other.getMessage());
    }
}
