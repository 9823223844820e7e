package org.mmoestream.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.config.InputException;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.model.codec.Snapshots;
import org.mmoestream.model.codec.SpecJson;
import org.mmoestream.testing.TestSpecs;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The bias tower: selection-bias features feed it, not the experts and gates; its logit goes to the
 * bias tasks in training; serving leaves it out or takes it at the serving values. Its gradient is
 * checked in {@link GradientCheckTest}.
 */
class BiasTowerTest {
    @TempDir
    Path dir;

    private ModelSpec load(String position, String model) throws Exception {
        return TestSpecs.yaml(
                dir,
                "name: bias",
                "features:",
                "  sparse:",
                "    - {name: user, buckets: 50}",
                "    - {name: item, buckets: 50}",
                position,
                "tasks:",
                "  - {name: ctr, label: click}",
                "  - {name: cvr, label: conversion}",
                "model: " + model);
    }

    @Test
    void theSpecReadsBiasFeaturesAndRefusesWhatItCannotUse() throws Exception {
        ModelSpec spec = load(
                "    - {name: position, buckets: 16, dim: 2, bias: true}",
                "{expert_hidden: [8], bias_serving: {position: p1}}");
        assertEquals(List.of("ctr"), spec.architecture().biasTower().tasks(), "the click's tasks by default");
        assertEquals(Map.of("position", "p1"), spec.architecture().biasTower().serving());
        assertEquals(16, spec.features().inputDim(), "the experts read user and item only");
        assertEquals(2, spec.features().biasDim());
        assertEquals(16, spec.features().sparseOffset(2), "the position's columns follow the model input");
        assertEquals(spec, SpecJson.read(SpecJson.write(spec)));
        assertNull(load("", "{expert_hidden: [8]}").architecture().biasTower());
        for (String[] bad : new String[][] {
            {"", "{bias_tasks: [ctr]}", "model.bias_tasks"},
            {"    - {name: position, bias: true}", "{bias_tasks: [ctcvr]}", "model.bias_tasks"},
            {"    - {name: position, bias: true}", "{bias_serving: {user: u1}}", "model.bias_serving"}
        }) {
            InputException e = assertThrows(InputException.class, () -> load(bad[0], bad[1]), bad[1]);
            assertTrue(e.getMessage().contains(bad[2]), e.getMessage());
        }
    }

    /**
     * {@code features.sparse[].learning_rate}, the step size of one feature's rows (for the bias
     * tower's, whose rows see fewer examples than the network's weights): kept in the snapshot's spec,
     * left out of it when unset (readers from before the key read those), refused when not a positive
     * number.
     */
    @Test
    void aFeatureTakesALearningRateOfItsOwn() throws Exception {
        ModelSpec spec = load("    - {name: position, buckets: 16, dim: 2, bias: true, learning_rate: 0.15}", "{}");
        assertEquals(0.15, spec.features().sparse().get(2).learningRate());
        assertNull(spec.features().sparse().get(0).learningRate(), "the optimizer's rate by default");
        assertEquals(spec, SpecJson.read(SpecJson.write(spec)));
        ModelSpec plain = load("    - {name: position, buckets: 16, dim: 2, bias: true}", "{}");
        com.fasterxml.jackson.databind.JsonNode sparse = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(SpecJson.write(plain))
                .path("features")
                .path("sparse");
        assertEquals(3, sparse.size());
        assertEquals(plain, SpecJson.read(SpecJson.write(plain)));
        for (com.fasterxml.jackson.databind.JsonNode f : sparse) {
            assertFalse(f.has("learningRate"), f.toString());
        }
        assertTrue(SpecJson.write(spec).contains("\"learningRate\":0.15"));
        for (String bad : new String[] {"0", "-0.1", "101", "fast"}) {
            InputException e = assertThrows(
                    InputException.class,
                    () -> load("    - {name: position, bias: true, learning_rate: " + bad + "}", "{}"),
                    bad);
            assertTrue(e.getMessage().contains("learning_rate"), e.getMessage());
        }
    }

    private static MmoeModel trained(ModelSpec spec) {
        MmoeModel m = MmoeModel.create(spec, 3, DataType.DOUBLE);
        for (int i = 0; i < 30; i++) {
            m.trainStep(TestSpecs.batch(spec, 64, i));
        }
        return m;
    }

    private static double[] ctr(MmoeModel m, Batch b) {
        return m.predict(b)[m.spec().taskIndex("ctr")];
    }

    @Test
    void servingLeavesTheBiasLogitOutAndTrainingAddsIt() {
        ModelSpec spec = TestSpecs.ctrCvrWithBias(true, Map.of());
        MmoeModel m = trained(spec);
        var w = m.network().biasWeight();
        assertEquals(2, w.size());
        double[] v = {
            m.network().paramAccess().get(w.offset()), m.network().paramAccess().get(w.offset() + 1)
        };
        assertTrue(v[0] != 0 && v[1] != 0, "the tower learned: " + Arrays.toString(v));
        Batch b = TestSpecs.batch(spec, 40, 77);
        double[] served = ctr(m, b);
        double[] train = m.forward(b).logits().clone();
        // Zero the tower: serving does not change, a training pass does.
        for (int k = 0; k < 2; k++) {
            m.network().paramAccess().set(w.offset() + k, 0);
        }
        m.network().paramAccess().set(m.network().biasBias().offset(), 0);
        assertArrayEquals(served, ctr(m, b), 0.0, "serving leaves the bias logit out");
        double[] zeroed = m.forward(b).logits();
        assertFalse(Arrays.equals(Arrays.copyOf(train, 80), Arrays.copyOf(zeroed, 80)), "training adds it");
        int cvr = spec.taskIndex("cvr");
        for (int r = 0; r < 40; r++) {
            assertEquals(train[r * 2 + cvr], zeroed[r * 2 + cvr], 0.0, "only the bias tasks take it");
        }
    }

    @Test
    void servingValuesStandInForTheUnknownPositionAndSurviveTheSnapshot() {
        ModelSpec spec = TestSpecs.ctrCvrWithBias(true, Map.of("position", "p1"));
        MmoeModel m = trained(spec);
        ExampleEncoder enc = new ExampleEncoder(spec);
        String at7 = "{\"user\":\"u1\",\"item\":\"i2\",\"tags\":\"a\",\"price\":3,\"age\":30,\"position\":\"p7\"}";
        String at1 = at7.replace("p7", "p1");
        String none = at7.replace(",\"position\":\"p7\"", "");
        double p7 = ctr(m, Batch.of(List.of(enc.encodeFeatures(at7, null))))[0];
        assertEquals(p7, ctr(m, Batch.of(List.of(enc.encodeFeatures(none, null))))[0], 0.0);
        assertEquals(p7, ctr(m, Batch.of(List.of(enc.encodeFeatures(at1, null))))[0], 0.0);
        // A training example keeps its own position.
        assertFalse(Arrays.equals(
                enc.encodeFeatures(at7, new float[] {1, 0}).sparseIds()[3],
                enc.encodeFeatures(at1, new float[] {1, 0}).sparseIds()[3]));
        SnapshotState reader = new SnapshotState();
        Snapshots.Meta meta = new Snapshots.Meta("m1", 1, Snapshots.FULL, 0, 30 * 64, 1L, "{}");
        assertTrue(reader.apply(Snapshots.full(m, meta, Snapshots.tablesOf(m))));
        double served = ctr(reader.model(), Batch.of(List.of(enc.encodeFeatures(none, null))))[0];
        assertEquals(p7, served, 1e-6, "the snapshot's reader serves as the trainer");
    }
}
