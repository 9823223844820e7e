package org.mmoestream.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.model.codec.Snapshots;
import org.mmoestream.model.codec.SpecJson;
import org.mmoestream.testing.TestSpecs;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * {@code model.batch_norm}: the experts' and towers' hidden layers normalized by the batch in
 * training (from 16 rows; a smaller micro-batch and inference use the running statistics), the
 * running statistics moved by training passes only and carried in the snapshot. The gradient, on
 * both paths, is checked in {@link GradientCheckTest}.
 */
class BatchNormTest {
    @TempDir
    Path dir;

    private static ModelSpec spec() {
        ModelSpec s = TestSpecs.ctrCvr(Variant.MMOE, true, List.of(4));
        return s.withArchitecture(s.architecture().withBatchNorm(true));
    }

    private static double[] read(MmoeModel m, String name) {
        ParamLayout.Entry e = m.network().layout().get(name);
        double[] v = new double[e.size()];
        m.network().paramAccess().read(e.offset(), v, 0, v.length);
        return v;
    }

    @Test
    void theSpecTurnsItOnForExpertsAndTowersOnly() throws Exception {
        ModelSpec spec = TestSpecs.yaml(
                dir,
                "name: bn",
                "features: {sparse: [{name: user, buckets: 20}]}",
                "tasks: [{name: ctr, label: click}, {name: cvr, label: conversion}]",
                "model: {expert_hidden: [8, 6], tower_hidden: [4], gate_hidden: [3], batch_norm: true}");
        assertTrue(spec.architecture().batchNorm());
        assertEquals(spec, SpecJson.read(SpecJson.write(spec)));
        MmoeModel m = MmoeModel.create(spec, 1, DataType.FLOAT);
        List<String> names = m.network().layout().entries().stream()
                .map(ParamLayout.Entry::name)
                .filter(n -> n.contains(".bn."))
                .toList();
        // 3 experts x 2 layers + 2 towers x 1 hidden layer, 4 tensors each; no gate layer.
        assertEquals(32, names.size(), names.toString());
        assertTrue(names.stream().noneMatch(n -> n.startsWith("gate.")), names.toString());
        assertArrayEquals(new double[] {1, 1, 1, 1}, read(m, "tower.ctr.layer.0.bn.gamma"), 0.0);
        assertArrayEquals(new double[] {1, 1, 1, 1}, read(m, "tower.ctr.layer.0.bn.running_var"), 0.0);
        assertArrayEquals(new double[4], read(m, "tower.ctr.layer.0.bn.running_mean"), 0.0);
    }

    @Test
    void trainingPassesMoveTheRunningStatisticsAndTheSnapshotCarriesThem() {
        ModelSpec spec = spec();
        MmoeModel m = MmoeModel.create(spec, 3, DataType.FLOAT);
        String mean = "expert.0.layer.0.bn.running_mean";
        Batch small = TestSpecs.batch(spec, 8, 1);
        double[][] before = m.predict(small);
        m.trainStep(small);
        assertArrayEquals(new double[6], read(m, mean), 0.0, "a micro-batch of 8 rows uses the running statistics");
        for (int i = 0; i < 40; i++) {
            m.trainStep(TestSpecs.batch(spec, 64, i));
        }
        double[] moved = read(m, mean);
        assertNotEquals(0.0, java.util.Arrays.stream(moved).map(Math::abs).sum());
        double[][] served = m.predict(small);
        assertArrayEquals(moved, read(m, mean), 0.0, "inference leaves them alone");
        assertNotEquals(before[0][0], served[0][0]);
        SnapshotState reader = new SnapshotState();
        Snapshots.Meta meta = new Snapshots.Meta("m1", 1, Snapshots.FULL, 0, 2568, 1L, "{}");
        assertTrue(reader.apply(Snapshots.full(m, meta, Snapshots.tablesOf(m))));
        assertArrayEquals(moved, read(reader.model(), mean), 1e-7);
        double[][] p = reader.model().predict(small);
        for (int h = 0; h < p.length; h++) {
            assertArrayEquals(served[h], p[h], 1e-6, "the reader serves as the trainer");
        }
    }
}
