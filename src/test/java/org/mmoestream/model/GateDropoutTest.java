package org.mmoestream.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.config.InputException;
import org.mmoestream.model.codec.SpecJson;
import org.mmoestream.testing.TestSpecs;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Gate dropout ({@code model.gate_dropout}): a training pass drops experts from the gates'
 * mixtures with masks fixed by the model's seed, step and batch; inference keeps every expert; the
 * gate statistics see the gates' own distributions. Unit dropout ({@code model.dropout}) of the
 * experts' and towers' ReLU layers likewise. The gradient through it is checked in {@link
 * GradientCheckTest}.
 */
class GateDropoutTest {
    @TempDir
    Path dir;

    private ModelSpec load(String model) throws Exception {
        return TestSpecs.yaml(
                dir,
                "name: dropout",
                "features:",
                "  sparse:",
                "    - {name: user, buckets: 50}",
                "    - {name: item, buckets: 50}",
                "tasks:",
                "  - {name: ctr, label: click}",
                "  - {name: cvr, label: conversion}",
                "model:",
                model);
    }

    private static double[] logits(MmoeNetwork.Buffers buf, int rows, int tasks) {
        return Arrays.copyOf(buf.logits(), rows * tasks);
    }

    @Test
    void trainingPassesDropExpertsReproduciblyAndInferenceKeepsThemAll() throws Exception {
        ModelSpec spec = load("  {experts: 4, expert_hidden: [8], tower_hidden: [4], gate_dropout: 0.5}");
        assertEquals(0.5, spec.architecture().gateDropout());
        assertEquals(spec, SpecJson.read(SpecJson.write(spec)), "the setting survives the snapshot's JSON");
        MmoeModel m = MmoeModel.create(spec, 3, DataType.DOUBLE);
        Batch b = TestSpecs.batch(spec, 32, 4);
        int tasks = spec.tasks().size();

        MmoeNetwork.Buffers buf = m.forward(b);
        double[] train = logits(buf, b.rows(), tasks);
        double[][] gates = new double[b.rows()][4];
        for (int r = 0; r < b.rows(); r++) {
            for (int e = 0; e < 4; e++) {
                gates[r][e] = buf.gateProbability(0, r, e);
            }
        }
        assertArrayEquals(train, logits(m.forward(b), b.rows(), tasks), 0.0, "same step and batch: same masks");

        m.predict(b);
        MmoeNetwork.Buffers inference = m.network().buffers(b.rows());
        double[] full = logits(inference, b.rows(), tasks);
        int differ = 0;
        for (int i = 0; i < full.length; i++) {
            differ += Math.abs(full[i] - train[i]) > 1e-9 ? 1 : 0;
        }
        assertTrue(differ > full.length / 4, "a training pass drops experts: " + differ + " of " + full.length);
        for (int r = 0; r < b.rows(); r++) {
            for (int e = 0; e < 4; e++) {
                assertEquals(
                        inference.gateProbability(0, r, e),
                        gates[r][e],
                        1e-12,
                        "the statistics see the gate's own distribution");
            }
        }

        m.trainStep(b);
        MmoeModel same = MmoeModel.create(spec, 3, DataType.DOUBLE);
        same.trainStep(b);
        double[] p = new double[same.network().layout().size()];
        double[] q = new double[p.length];
        m.network().paramAccess().read(0, p, 0, p.length);
        same.network().paramAccess().read(0, q, 0, q.length);
        assertArrayEquals(p, q, 0.0, "a step with dropout is reproducible");
        assertFalse(Arrays.equals(logits(m.forward(b), b.rows(), tasks), train), "the next step draws other masks");
    }

    @Test
    void unitDropoutDropsInTrainingOnly() throws Exception {
        ModelSpec spec = load("  {experts: 2, expert_hidden: [16, 8], tower_hidden: [8], dropout: 0.5}");
        assertEquals(0.5, spec.architecture().dropout());
        assertEquals(spec, SpecJson.read(SpecJson.write(spec)));
        MmoeModel m = MmoeModel.create(spec, 3, DataType.FLOAT);
        Batch b = TestSpecs.batch(spec, 32, 4);
        double[] train = logits(m.forward(b), b.rows(), 2);
        assertArrayEquals(train, logits(m.forward(b), b.rows(), 2), 0.0, "same step and batch: same masks");
        double[][] before = m.predict(b);
        double[] inference = logits(m.network().buffers(b.rows()), b.rows(), 2);
        int differ = 0;
        for (int i = 0; i < train.length; i++) {
            differ += Math.abs(inference[i] - train[i]) > 1e-6 ? 1 : 0;
        }
        assertTrue(differ > train.length / 2, "a training pass drops units: " + differ + " of " + train.length);
        assertArrayEquals(before[0], m.predict(b)[0], 0.0, "inference is deterministic");
        InputException range = assertThrows(InputException.class, () -> load("  {dropout: 0.95}"));
        assertTrue(range.getMessage().contains("model.dropout"), range.getMessage());
    }

    @Test
    void withoutDropoutATrainingPassIsTheInferencePass() throws Exception {
        ModelSpec spec = load("  {experts: 4, expert_hidden: [8], tower_hidden: [4]}");
        MmoeModel m = MmoeModel.create(spec, 3, DataType.DOUBLE);
        Batch b = TestSpecs.batch(spec, 32, 4);
        double[] train = logits(m.forward(b), b.rows(), 2);
        m.predict(b);
        assertArrayEquals(train, logits(m.network().buffers(b.rows()), b.rows(), 2), 0.0);
    }

    @Test
    void aVariantWithoutGatesOrARateOutOfRangeIsRefused() {
        InputException noGates =
                assertThrows(InputException.class, () -> load("  {variant: shared-bottom, gate_dropout: 0.1}"));
        assertTrue(noGates.getMessage().contains("model.gate_dropout"), noGates.getMessage());
        InputException range = assertThrows(InputException.class, () -> load("  {gate_dropout: 1.5}"));
        assertTrue(range.getMessage().contains("model.gate_dropout"), range.getMessage());
        assertEquals(0.0, Architecture.defaults().gateDropout(), "off by default");
    }
}
