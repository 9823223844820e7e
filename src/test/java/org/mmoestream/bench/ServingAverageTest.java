package org.mmoestream.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.mmoestream.model.NdAccess;

class ServingAverageTest {

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
}
