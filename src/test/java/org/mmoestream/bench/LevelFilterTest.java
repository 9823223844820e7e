package org.mmoestream.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.mmoestream.model.Objective.sigmoid;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.Batch;
import org.mmoestream.model.Embeddings;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.SpecLoader;
import org.nd4j.linalg.api.buffer.DataType;

class LevelFilterTest {
    /** The model's shift of every logit; an example's own logit is its first dense value. */
    private double shift;
    /** The model's shift of the negative logits. */
    private double lowShift;
    /** The model's shift of the logits above 4. */
    private double highShift;

    /** A probe of the examples trained before the last measurement. */
    private final LevelFilter filter = new LevelFilter(this::predict, 10, 40, 2, 0);

    private double[][] predict(List<EncodedExample> rows) {
        double[][] p = new double[1][rows.size()];
        for (int r = 0; r < rows.size(); r++) {
            double z = rows.get(r).dense()[0];
            p[0][r] = sigmoid(z + shift + (z < 0 ? lowShift : 0) + (z > 4 ? highShift : 0));
        }
        return p;
    }

    private static List<EncodedExample> examples(double... logits) {
        List<EncodedExample> rows = new ArrayList<>();
        for (double z : logits) {
            rows.add(new EncodedExample(new int[0][], new double[] {z}, new float[0]));
        }
        return rows;
    }

    @Test
    void servesTheModelUntilItsLevelHasBeenMeasuredTwice() {
        filter.at(0);
        filter.offer(examples(-1, 1));
        filter.at(5);
        filter.at(15);
        shift = 0.3;
        filter.at(20);
        double[][] p = {{0.25, 0.5}};
        assertArrayEquals(new double[] {0.25, 0.5}, filter.serve(p, 0)[0], 1e-12);
        assertEquals(0, filter.offset(0));
    }

    @Test
    void aMoveOfTheModelReachesTheServedLevelOfItsHeadWithTheTimeConstant() {
        filter.offer(examples(-1, 1));
        filter.at(0);
        filter.at(10);
        shift = 0.4;
        filter.at(20);
        // The move of 0.4 is taken out, then exp(-10 / 40) of it is left (period 10, time constant 40).
        double left = Math.exp(-0.25);
        assertEquals(-0.4 * left, filter.offset(0), 1e-6);
        // Only the head asked for is filtered.
        double[][] p = {{sigmoid(0.4)}, {0.25}};
        assertEquals(sigmoid(0.4 - 0.4 * left), filter.serve(p, 0)[0][0], 1e-6);
        assertEquals(0.25, p[1][0]);
        filter.at(30);
        assertEquals(-0.4 * left * left, filter.offset(0), 1e-6);
        // Before a period has passed nothing is measured.
        shift = 2;
        filter.at(39);
        assertEquals(-0.4 * left * left, filter.offset(0), 1e-6);
    }

    /** Trains two examples, then two others each 2 higher, measuring every period to 30. */
    private static void twoPopulations(LevelFilter f) {
        f.offer(examples(-1, 1));
        f.at(0);
        f.offer(examples(1, 3));
        f.at(10);
        f.at(20);
        f.at(30);
    }

    @Test
    void aMoveOfThePopulationPassesAtOnce() {
        // The model stays as it was while the examples move.
        twoPopulations(filter);
        assertEquals(0, filter.offset(0), 1e-9);
    }

    @Test
    void theProbeIsTheExamplesTrainedItsAgeBefore() {
        LevelFilter aged = new LevelFilter(this::predict, 10, 40, 2, 25);
        aged.offer(examples(-1, 1));
        aged.at(0);
        aged.at(10);
        aged.at(20);
        // The first probe is taken once the filter has run its age: the examples trained by 30.
        aged.offer(examples(1, 3));
        aged.at(30);
        aged.offer(examples(5, 7));
        aged.at(40);
        aged.at(50);
        // A move before the probe is in place (at 55, its age after 30) is not measured.
        shift = 1;
        aged.at(60);
        assertEquals(0, aged.offset(0), 1e-9);
        // Neither what the model does to the examples trained since, nor to those before the first
        // probe, is a move of its level; what it does to the probe's is.
        highShift = 3;
        lowShift = 3;
        shift = 1.4;
        aged.at(70);
        assertEquals(-0.4 * Math.exp(-0.25), aged.offset(0), 1e-6);
    }

    @Test
    void aProbeHoldingTheItemsRowsMeasuresTheRestOfTheModel() {
        ModelSpec spec = SpecLoader.load(Path.of("examples/ctr-cvr-item-age.yaml"));
        MmoeModel model = MmoeModel.create(spec, 42, DataType.FLOAT);
        ExampleEncoder encoder = new ExampleEncoder(spec);
        List<EncodedExample> probe = new ArrayList<>();
        for (String item : List.of("i1", "i2")) {
            probe.add(encoder.encodeFeatures(
                    "{\"user\":\"u1\",\"item\":\"" + item + "\",\"device\":\"d0\",\"price\":20,\"item_age\":3}",
                    new float[spec.tasks().size()]));
        }
        Function<List<EncodedExample>, double[][]> predict = rows -> model.predict(Batch.of(rows));
        Function<List<EncodedExample>, double[][]> held =
                LevelFilter.holdingRows(model.embeddings(), 1, predict).of(probe);
        double[][] before = held.apply(probe);
        Embeddings emb = model.embeddings();
        double[] row = new double[emb.feature(1).dim() * (emb.stateSlots() + 1)];
        // What the model learns of the probe's items is not measured, and their rows stay as learned.
        int item = probe.get(0).sparseIds()[1][0];
        emb.readRow(1, item, row);
        row[0] += 3;
        emb.writeRow(1, item, row);
        assertArrayEquals(before[1], held.apply(probe)[1], 1e-12);
        assertNotEquals(before[1][0], predict.apply(probe)[1][0], 1e-3);
        double[] after = new double[row.length];
        emb.readRow(1, item, after);
        assertArrayEquals(row, after, 1e-6);
        // What it learns of the rest (here the user's row) is.
        int user = probe.get(0).sparseIds()[0][0];
        emb.readRow(0, user, row);
        row[0] += 3;
        emb.writeRow(0, user, row);
        assertNotEquals(before[1][0], held.apply(probe)[1][0], 1e-3);
    }

    @Test
    void aPeriodAndATimeConstantAboveZeroAndAProbeAreRequired() {
        assertThrows(IllegalArgumentException.class, () -> new LevelFilter(this::predict, 10, 0, 2, 0));
        assertThrows(IllegalArgumentException.class, () -> new LevelFilter(this::predict, 0, 5, 2, 0));
        assertThrows(IllegalArgumentException.class, () -> new LevelFilter(this::predict, 10, 40, 0, 0));
    }
}
