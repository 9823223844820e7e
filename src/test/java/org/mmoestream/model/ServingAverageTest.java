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

    /**
     * Sized in event time, the average moves before each step towards the parameters that held
     * since its clock last moved, by {@code 1 - exp(-dt / span)}; the first time only sets the clock,
     * a time not later moves nothing, a step alone moves nothing, and a restored clock goes on.
     */
    @Test
    void inEventTimeItMovesByTheTimeThatPassed() {
        float[] params = {0, 8};
        ServingAverage average = ServingAverage.overEventTime(NdAccess.of(params), 1);
        assertTrue(average.inEventTime());
        long t = 1_000_000;
        average.advance(t);
        params[0] = 4;
        params[1] = 16;
        average.update();
        // An hour at the new values: 1 - 1/e of the way.
        average.advance(t + 3_600_000);
        double f = -Math.expm1(-1);
        double[] expected = {4 * f, 8 + 8 * f};
        assertArrayEquals(expected, values(average.values()), 1e-12);
        average.advance(t + 3_600_000);
        average.advance(t);
        assertArrayEquals(expected, values(average.values()), 0, "a time not later moves nothing");
        ServingAverage restored = ServingAverage.overEventTime(NdAccess.of(params), 1);
        float[] saved = new float[2];
        average.values().readFloats(0, saved, 0, 2);
        restored.restore(saved, 0);
        restored.restoreClock(t + 3_600_000);
        // Half an hour more, to both.
        average.advance(t + 5_400_000);
        restored.advance(t + 5_400_000);
        assertArrayEquals(values(average.values()), values(restored.values()), 1e-5);
        assertTrue(values(restored.values())[0] > expected[0] + 0.1, "the restored clock moves it");
        assertThrows(IllegalArgumentException.class, () -> ServingAverage.overEventTime(NdAccess.of(params), 0));
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

    @Test
    void theSpecTakesTheAverageInHoursOfEventTimeOrInStepsNotBoth() throws Exception {
        Path f = dir.resolve("spec.yaml");
        String head = "name: a\nfeatures: {sparse: [{name: user, buckets: 5}]}\ntasks: [{name: ctr, label: click}]\n";
        Files.writeString(f, head + "optimizer: {serving_average_hours: 2.5}\n");
        ModelSpec spec = SpecLoader.load(f);
        assertEquals(2.5, spec.optimizer().servingAverageHours());
        assertEquals(0, spec.optimizer().servingAverage());
        assertEquals(spec, SpecJson.read(SpecJson.write(spec)), "a snapshot's spec keeps it");
        MmoeModel m = MmoeModel.create(spec, 7, DataType.FLOAT);
        m.useServingAverage();
        assertTrue(m.servingAverage().inEventTime());
        Files.writeString(f, head + "optimizer: {serving_average: 4000, serving_average_hours: 3}\n");
        InputException e = assertThrows(InputException.class, () -> SpecLoader.load(f));
        assertTrue(e.getMessage().contains("optimizer.serving_average_hours"), e.getMessage());
        assertTrue(e.getMessage().contains("not both"), e.getMessage());
    }
}
