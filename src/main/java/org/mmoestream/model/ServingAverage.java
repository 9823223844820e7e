package org.mmoestream.model;

/**
 * The exponential moving average of a model's dense parameters (experts, gates, towers) over its
 * optimizer steps, served instead of their last values (the spec's {@code optimizer.serving_average},
 * as TensorFlow's {@code ExponentialMovingAverage} serves Polyak-averaged weights). Training goes on
 * from the last values; the embedding rows are served as trained. After each step the average moves
 * {@code 1 / steps} of the way to the parameters, so a change of the parameters reaches it with a
 * time constant of {@code steps} steps: the step-to-step noise of an online learner's shared
 * parameters is averaged out of what it serves (README, Fresh labels).
 */
public final class ServingAverage {
    private final NdAccess params;
    private final double rate;
    private final double[] average;
    /** The trained values while the average is served, and the step's values in {@link #update}. */
    private final double[] trained;

    /** Starts the average at the parameters' current values; {@code steps} at least 1. */
    public ServingAverage(NdAccess params, double steps) {
        if (!(steps >= 1) || Double.isInfinite(steps)) {
            throw new IllegalArgumentException("the serving average's time constant must be at least 1 step: " + steps);
        }
        this.params = params;
        this.rate = 1 / steps;
        average = new double[params.length()];
        trained = new double[params.length()];
        reset();
    }

    /** Starts the average over at the parameters' current values (after they were set from outside). */
    public void reset() {
        params.read(0, average, 0, average.length);
    }

    /** After an optimizer step: moves the average towards the parameters. */
    public void update() {
        params.read(0, trained, 0, trained.length);
        for (int i = 0; i < average.length; i++) {
            average[i] += rate * (trained[i] - average[i]);
        }
    }

    /** The average, element access in the parameters' layout ({@link MmoeNetwork#layout()}). */
    public NdAccess values() {
        return NdAccess.of(average);
    }

    /** Sets the average to {@code src} (from a checkpoint), in the parameters' layout. */
    public void restore(float[] src, int offset) {
        for (int i = 0; i < average.length; i++) {
            average[i] = src[offset + i];
        }
    }

    /** Runs {@code scoring} with the average in the parameters, then puts the trained values back. */
    public void serve(Runnable scoring) {
        params.read(0, trained, 0, trained.length);
        params.write(0, average, 0, average.length);
        try {
            scoring.run();
        } finally {
            params.write(0, trained, 0, trained.length);
        }
    }
}
