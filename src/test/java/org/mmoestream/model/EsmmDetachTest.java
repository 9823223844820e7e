package org.mmoestream.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.config.InputException;
import org.mmoestream.model.codec.SpecJson;
import org.mmoestream.testing.TestSpecs;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * {@code model.esmm_detach_ctr}: the CTCVR loss holds pCTR as a constant, so the CTR logit's
 * gradient is the CTR loss's alone, the CVR logit's is the paper's ESMM's, and the loss is the
 * same; through the network the CTR tower and gate learn as if no conversion label came, the CVR
 * tower as with ESMM. The attached gradient is checked against finite differences in {@link
 * GradientCheckTest}.
 */
class EsmmDetachTest {
    private static final double H = 1e-6;

    private final ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
    private final int ctr = spec.taskIndex("ctr");
    private final int cvr = spec.taskIndex("cvr");
    private final int tasks = spec.tasks().size();

    @Test
    void theCtrLogitTakesTheCtrLossGradientAloneAndTheCvrLogitTheEsmmOne() {
        Batch b = TestSpecs.batch(spec, 9, 2);
        for (int r = 0; r < 3; r++) {
            b.labels[ctr][r] = 1;
            b.labels[cvr][r] = 1;
        }
        double[] logits = new double[b.rows * tasks];
        java.util.Random rnd = new java.util.Random(5);
        for (int i = 0; i < logits.length; i++) {
            logits[i] = rnd.nextGaussian();
        }
        Objective attached = spec.objective();
        Objective detached = attached.withEsmmDetachedCtr(true);
        assertFalse(attached.esmmDetachedCtr());
        assertTrue(detached.esmmDetachedCtr());
        double[] dA = new double[logits.length];
        double[] dD = new double[logits.length];
        double[] lossA = new double[tasks];
        double[] lossD = new double[tasks];
        assertEquals(
                attached.evaluate(logits, b, dA, lossA), detached.evaluate(logits, b, dD, lossD), 0, "the same loss");
        assertTrue(Arrays.equals(lossA, lossD));
        boolean differs = false;
        for (int r = 0; r < b.rows; r++) {
            int i1 = r * tasks + ctr;
            int i2 = r * tasks + cvr;
            assertEquals(dA[i2], dD[i2], 0, "row " + r + ": the CVR logit's gradient is ESMM's");
            assertEquals(numeric(detached, logits, b, i1, ctr), dD[i1], 1e-7, "row " + r + ": the CTR loss's own");
            assertEquals(numeric(attached, logits, b, i1, -1), dA[i1], 1e-7, "row " + r + ": ESMM's, the total loss's");
            differs |= Math.abs(dA[i1] - dD[i1]) > 1e-3;
        }
        assertTrue(differs, "the CTCVR loss moves the attached CTR logit");
    }

    @Test
    void throughTheNetworkTheCtrTowerLearnsFromClicksAloneAndTheCvrTowerAsWithEsmm() {
        Batch b = TestSpecs.batch(spec, 12, 3);
        Batch clicksOnly = TestSpecs.batch(spec, 12, 3);
        Arrays.fill(clicksOnly.labels[cvr], Float.NaN);
        double[] detached = gradients(spec.withArchitecture(spec.architecture().withEsmmDetachCtr(true)), b);
        double[] attached = gradients(spec, b);
        double[] noConversions = gradients(spec, clicksOnly);
        MmoeModel layoutOf = MmoeModel.create(spec, 7, DataType.DOUBLE);
        int ctrEntries = 0;
        int cvrEntries = 0;
        for (ParamLayout.Entry e : layoutOf.network().layout().entries()) {
            double[] d = slice(detached, e);
            if (e.name().startsWith("tower.ctr.") || e.name().startsWith("gate.ctr.")) {
                ctrEntries++;
                assertArrayEquals(slice(noConversions, e), d, 1e-12, e.name());
                assertFalse(Arrays.equals(slice(attached, e), d), e.name() + ": the attached CTCVR loss reaches it");
            } else if (e.name().startsWith("tower.cvr.") || e.name().startsWith("gate.cvr.")) {
                cvrEntries++;
                assertArrayEquals(slice(attached, e), d, 1e-12, e.name());
            }
        }
        assertTrue(ctrEntries >= 2 && cvrEntries >= 2, ctrEntries + " ctr and " + cvrEntries + " cvr entries");
    }

    @Test
    void theSpecKeyIsReadKeptInTheSnapshotsSpecAndRefusedWithoutEsmm(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("spec.yaml");
        String head = "name: a\nfeatures: {sparse: [{name: user, buckets: 10}]}\n"
                + "tasks: [{name: ctr, label: click}, {name: cvr, label: conversion}]\n";
        Files.writeString(f, head + "model: {esmm_detach_ctr: true}\n");
        ModelSpec on = SpecLoader.load(f);
        assertTrue(on.architecture().esmmDetachCtr());
        assertTrue(on.objective().esmmDetachedCtr());
        assertTrue(SpecJson.read(SpecJson.write(on)).architecture().esmmDetachCtr());
        Files.writeString(f, head);
        assertFalse(SpecLoader.load(f).architecture().esmmDetachCtr());
        Files.writeString(f, head + "model: {esmm: false, esmm_detach_ctr: true}\n");
        InputException e = assertThrows(InputException.class, () -> SpecLoader.load(f));
        assertTrue(e.getMessage().contains("model.esmm_detach_ctr"), e.getMessage());
    }

    /** The gradient of every dense parameter of a fresh model of {@code s} (seed 7) on {@code b}. */
    private static double[] gradients(ModelSpec s, Batch b) {
        MmoeModel model = MmoeModel.create(s, 7, DataType.DOUBLE);
        MmoeNetwork.Buffers buf = model.forward(b);
        model.computeGradients(b, buf);
        double[] g = new double[(int) model.network().gradAccess().length()];
        model.network().gradAccess().read(0, g, 0, g.length);
        return g;
    }

    /** The values of parameter group {@code e} in {@code all}. */
    private static double[] slice(double[] all, ParamLayout.Entry e) {
        return Arrays.copyOfRange(all, e.offset(), e.offset() + e.size());
    }

    /** The central difference at logit {@code i} of task {@code t}'s loss, or the total loss (t = -1). */
    private double numeric(Objective o, double[] logits, Batch b, int i, int t) {
        double[] x = logits.clone();
        double[] d = new double[x.length];
        double[] loss = new double[tasks];
        x[i] = logits[i] + H;
        double total = o.evaluate(x, b, d, loss);
        double plus = t < 0 ? total : loss[t];
        x[i] = logits[i] - H;
        total = o.evaluate(x, b, d, loss);
        double minus = t < 0 ? total : loss[t];
        return (plus - minus) / (2 * H);
    }
}
