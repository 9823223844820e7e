package org.mmoestream.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
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

/** {@code optimizer.serving_average}: the average itself, and a model that serves it. */
class ServingAverageTest {
    @TempDir
    Path dir;

    @Test
    void servesTheMovingAverageOfTheStepsAndTrainsOnFromTheLastValues() {
        float[] params = {0, 8};
        ServingAverage average = new ServingAverage(NdAccess.of(params), 4);
        // Two steps set the parameters to 4 and 16, then to 4 and 0.
        params[0] = 4;
        params[1] = 16;
        average.update();
        params[0] = 4;
        params[1] = 0;
        average.update();
        float[] served = new float[2];
        average.serve(() -> System.arraycopy(params, 0, served, 0, 2));
        // 0 -> 1 -> 1.75; 8 -> 10 -> 7.5.
        assertArrayEquals(new float[] {1.75f, 7.5f}, served);
        assertArrayEquals(new float[] {4, 0}, params);
    }

    @Test
    void theTrainedValuesComeBackWhenScoringFails() {
        float[] params = {1, 2};
        ServingAverage average = new ServingAverage(NdAccess.of(params), 2);
        params[0] = 3;
        assertThrows(
                IllegalStateException.class,
                () -> average.serve(() -> {
                    throw new IllegalStateException("scoring failed");
                }));
        assertArrayEquals(new float[] {3, 2}, params);
    }

    @Test
    void aTimeConstantBelowOneStepIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new ServingAverage(NdAccess.of(new float[1]), 0.5));
    }

    private static double[] values(NdAccess a) {
        double[] v = new double[a.length()];
        a.read(0, v, 0, v.length);
        return v;
    }

    /**
     * A model with the average trains as one without (the same trained values), and serves, copies
     * and snapshots the average; a model of the same spec that does not use it serves as trained.
     */
    @Test
    void aModelTrainsAsWithoutTheAverageAndServesAndSnapshotsIt() throws Exception {
        ModelSpec plain = TestSpecs.ctrCvr(Variant.MMOE, true, List.of(4));
        ModelSpec spec = plain.withOptimizer(plain.optimizer().withServingAverage(4));
        assertEquals(spec, SpecJson.read(SpecJson.write(spec)));
        MmoeModel a = MmoeModel.create(spec, 7, DataType.FLOAT);
        a.useServingAverage();
        MmoeModel b = MmoeModel.create(plain, 7, DataType.FLOAT);
        b.useServingAverage();
        assertEquals(null, b.servingAverage(), "serving_average 0: served as trained");
        double[] start = values(a.network().paramAccess());
        for (int step = 0; step < 6; step++) {
            Batch batch = TestSpecs.batch(spec, 32, 100 + step);
            a.trainStep(batch);
            b.trainStep(batch);
        }
        double[] trained = values(a.network().paramAccess());
        assertArrayEquals(values(b.network().paramAccess()), trained, 0);
        // By hand: six steps of 1/4 towards the parameters after each step, from the initial values.
        double[] expected = start.clone();
        MmoeModel replay = MmoeModel.create(plain, 7, DataType.FLOAT);
        for (int step = 0; step < 6; step++) {
            replay.trainStep(TestSpecs.batch(spec, 32, 100 + step));
            double[] now = values(replay.network().paramAccess());
            for (int i = 0; i < expected.length; i++) {
                expected[i] += (now[i] - expected[i]) / 4;
            }
        }
        assertArrayEquals(expected, values(a.servedParams()), 1e-6);
        Batch probe = TestSpecs.batch(spec, 20, 5);
        double[][] served = a.predictServed(probe);
        assertTrue(Math.abs(served[0][0] - a.predict(probe)[0][0]) > 1e-6, "the average is not the trained values");
        assertArrayEquals(trained, values(a.network().paramAccess()), 0, "serving puts the trained values back");
        assertArrayEquals(a.predict(probe)[0], b.predictServed(probe)[0], 0);
        assertArrayEquals(expected, a.copyParameters().dense(), 1e-6);

        SnapshotState s = new SnapshotState();
        s.apply(Snapshots.full(
                a, new Snapshots.Meta("m", 1, Snapshots.FULL, 0, a.examplesSeen(), 1L, "{}"), Snapshots.tablesOf(a)));
        for (int h = 0; h < served.length; h++) {
            assertArrayEquals(served[h], s.model().predict(probe)[h], 1e-6, "head " + h);
        }
    }

    @Test
    void theSpecTakesTheAverageInOptimizerStepsAndRefusesLessThanOne() throws Exception {
        Path f = dir.resolve("spec.yaml");
        String head = "name: a\nfeatures: {sparse: [{name: user, buckets: 5}]}\ntasks: [{name: ctr, label: click}]\n";
        Files.writeString(f, head + "optimizer: {serving_average: 4000}\n");
        assertEquals(4000, SpecLoader.load(f).optimizer().servingAverage());
        Files.writeString(f, head);
        assertEquals(0, SpecLoader.load(f).optimizer().servingAverage());
        Files.writeString(f, head + "optimizer: {serving_average: 0.5}\n");
        InputException e = assertThrows(InputException.class, () -> SpecLoader.load(f));
        assertTrue(e.getMessage().contains("optimizer.serving_average"), e.getMessage());
    }
}
