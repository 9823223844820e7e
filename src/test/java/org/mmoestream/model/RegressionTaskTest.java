package org.mmoestream.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.config.InputException;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.codec.SpecJson;
import org.mmoestream.offline.CsvExamples;
import org.mmoestream.testing.TestSpecs;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Regression tasks ({@code type: regression}, {@code loss: mse | lognormal}): read from the spec, labels
 * from the conversion's value or a CSV column, the head's output (the value, or a log-normal mean),
 * their metrics, and a model that learns a value's mean. The gradients are checked in {@link
 * GradientCheckTest}.
 */
class RegressionTaskTest {
    @TempDir
    Path dir;

    private ModelSpec load(String value) throws Exception {
        return TestSpecs.yaml(
                dir,
                "name: value",
                "features:",
                "  sparse:",
                "    - {name: user, buckets: 50}",
                "tasks:",
                "  - {name: ctr, label: click}",
                "  - {name: cvr, label: conversion}",
                value,
                "model: {expert_hidden: [8], tower_hidden: [4]}");
    }

    @Test
    void theSpecReadsRegressionTasksAndRefusesWhatItCannotUse() throws Exception {
        ModelSpec spec =
                load("  - {name: value, label: conversion, type: regression, loss: lognormal, masked_by: cvr}");
        TaskSpec value = spec.tasks().get(2);
        assertEquals(TaskSpec.Loss.LOGNORMAL, value.loss());
        assertTrue(value.regression() && !spec.tasks().get(0).regression());
        assertEquals(spec, SpecJson.read(SpecJson.write(spec)));
        assertEquals(
                TaskSpec.Loss.MSE,
                load("  - {name: value, label: conversion, type: regression}")
                        .tasks()
                        .get(2)
                        .loss(),
                "mse by default");
        for (String[] bad : new String[][] {
            {"  - {name: value, label: click, type: regression}", "tasks[2].type"},
            {"  - {name: value, label: conversion, type: ordinal}", "tasks[2].type"},
            {"  - {name: value, label: conversion, type: regression, loss: huber}", "tasks[2].loss"},
            {"  - {name: value, label: conversion, loss: mse}", "tasks[2].loss"},
            {"  - {name: value, label: conversion, type: regression, positive: [a]}", "tasks[2].positive"},
            {
                "  - {name: value, label: conversion, type: regression}\n  - {name: x, label: click, masked_by: value}",
                "tasks[3].masked_by"
            }
        }) {
            InputException e = assertThrows(InputException.class, () -> load(bad[0]), bad[0]);
            assertTrue(e.getMessage().contains(bad[1]), e.getMessage());
        }
    }

    @Test
    void labelsComeFromTheConversionsValueOrTheCsvColumn() throws Exception {
        ModelSpec spec = load("  - {name: value, label: conversion, type: regression, masked_by: cvr}");
        ExampleEncoder enc = new ExampleEncoder(spec);
        assertArrayEquals(new float[] {1, 1, 42.5f}, enc.labels(1, 1, 42.5));
        assertArrayEquals(new float[] {1, 0, 0}, enc.labels(1, 0, Double.NaN), "no conversion: value 0");
        assertTrue(Float.isNaN(enc.labels(1, 1, Double.NaN)[2]), "a conversion without a value trains no value");
        assertTrue(Float.isNaN(enc.labels(1, 1, 42.5, true, false)[2]), "a click brings no value news");

        Path csv = dir.resolve("rows.csv");
        Files.writeString(csv, "user,click,conversion\nu1,1,12.25\nu2,0,x\n");
        ModelSpec file = load("  - {name: value, label: conversion, type: regression}");
        ModelSpec fileSpec = new ModelSpec(
                file.name(),
                file.features(),
                List.of(
                        TaskSpec.binary("ctr", "click", null),
                        new TaskSpec(
                                "value",
                                "conversion",
                                null,
                                java.util.Set.of(),
                                java.util.Set.of(),
                                null,
                                1.0,
                                TaskSpec.Loss.MSE)),
                file.architecture().withEsmm(false),
                file.optimizer(),
                file.csv());
        InputException bad = assertThrows(
                InputException.class, () -> new CsvExamples(fileSpec).read(csv, org.mmoestream.offline.RowFilter.ALL));
        assertTrue(
                bad.getMessage().contains("row 2") && bad.getMessage().contains("must be a number"), bad.getMessage());
        Files.writeString(csv, "user,click,conversion\nu1,1,12.25\n");
        assertEquals(
                12.25f,
                new CsvExamples(fileSpec)
                        .read(csv, org.mmoestream.offline.RowFilter.ALL)
                        .get(0)
                        .labels()[1]);
    }

    /**
     * Trains on values log-normal around a per-user mean and returns the served means (within 6%: a
     * log-normal head that served exp(mu), the median, would be 8% low).
     */
    private static double[] trainedMeans(TaskSpec.Loss loss) {
        ModelSpec spec = TestSpecs.ctrCvrValue(Variant.MMOE, true, loss);
        MmoeModel m = MmoeModel.create(spec, 5, DataType.FLOAT);
        Random rnd = new Random(1);
        for (int step = 0; step < 1500; step++) {
            List<EncodedExample> rows = new ArrayList<>();
            for (EncodedExample e : TestSpecs.examples(spec, 64, step)) {
                float[] y = e.labels().clone();
                y[0] = 1;
                y[1] = 1;
                // The value's mean depends on the user: 10 for even users, 30 for odd ones.
                double mean = e.sparseIds()[0][0] % 2 == 0 ? 10 : 30;
                y[2] = (float) (mean * Math.exp(0.4 * rnd.nextGaussian() - 0.08));
                rows.add(new EncodedExample(e.sparseIds(), e.dense(), y));
            }
            m.trainStep(Batch.of(rows));
        }
        List<EncodedExample> probe = TestSpecs.examples(spec, 400, 9999);
        double[] p = m.predict(Batch.of(probe))[2];
        double[] sum = new double[2];
        int[] n = new int[2];
        for (int i = 0; i < probe.size(); i++) {
            int k = probe.get(i).sparseIds()[0][0] % 2;
            sum[k] += p[i];
            n[k]++;
        }
        return new double[] {sum[0] / n[0], sum[1] / n[1]};
    }

    @Test
    void aRegressionHeadLearnsTheValuesMean() {
        for (TaskSpec.Loss loss : List.of(TaskSpec.Loss.MSE, TaskSpec.Loss.LOGNORMAL)) {
            double[] means = trainedMeans(loss);
            assertEquals(10, means[0], 0.6, loss + " even users " + means[0]);
            assertEquals(30, means[1], 1.8, loss + " odd users " + means[1]);
        }
    }

    @Test
    void metricsOfARegressionHead() {
        TaskMetrics m = new TaskMetrics(true);
        m.add(3, 1.0);
        m.add(1, 3.0);
        assertEquals(2, m.rmse(), 1e-12);
        assertEquals(2, m.mae(), 1e-12);
        assertEquals(1, m.calibration(), 1e-12);
        assertTrue(Double.isNaN(m.auc()) && Double.isNaN(m.logLoss()));
        SlidingMetrics s = new SlidingMetrics(2, true);
        s.add(100, 0.0);
        s.add(3, 1.0);
        s.add(1, 3.0);
        assertEquals(2, s.rmse(), 1e-9, "the window keeps the last two");
        assertEquals(1, s.calibration(), 1e-9);
        assertTrue(s.json().contains("\"rmse\":2.000000"), s.json());
    }
}
