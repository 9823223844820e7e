package org.mmoestream.model;

/**
 * The exponential moving average of a model's dense parameters (experts, gates, towers) over its
 * optimizer steps, served instead of their last values (the spec's {@code optimizer.serving_average},
 * as TensorFlow's {@code ExponentialMovingAverage} serves Polyak-averaged weights). Training goes on
 * from the last values; the embedding rows are served as trained. After each step the average moves
 * {@code 1 / steps} of the way to the parameters, so a change of the parameters reaches it with a
 * time constant of {@code steps} steps: the step-to-step noise of an online learner's shared
 * parameters is averaged out of what it serves (README, Fresh labels).
 *
 * <p>Sized in event time instead ({@code optimizer.serving_average_hours}, {@link #overEventTime}),
 * the average spans the same hours of the stream whatever its traffic: the trainer moves its clock
 * to the newest impression it trains before each step ({@link #advance}), and the average then moves
 * {@code 1 - exp(-dt / span)} of the way to the parameters that held over the {@code dt} since the
 * clock last moved; {@link #update} after a step leaves it alone. Its clock restarts from the event
 * time the trainer's state records ({@link #restoreClock}), so a restored trainer averages on as one
 * that never stopped.
 */
public final class ServingAverage {
    private final NdAccess params;
    /** The fraction of the way to the parameters after each step; 0 when sized in event time. */
    private final double rate;
    /** The event-time span in milliseconds; 0 when sized in steps. */
    private final double spanMillis;
    /** The event time the average has moved up to ({@link #advance}); {@code Long.MIN_VALUE}: not yet. */
    private long clock = Long.MIN_VALUE;

    private final double[] average;
    /** The trained values while the average is served, and the step's values in {@link #update}. */
    private final double[] trained;

    /** Starts the average at the parameters' current values; {@code steps} at least 1. */
    public ServingAverage(NdAccess params, double steps) {
        this(params, rateOf(steps), 0);
    }

    private static double rateOf(double steps) {
        if (!(steps >= 1) || Double.isInfinite(steps)) {
            throw new IllegalArgumentException("the serving average's time constant must be at least 1 step: " + steps);
        }
        return 1 / steps;
    }

    /** Sized in steps ({@code rate} = 1 / steps, {@code spanMillis} 0) or in event time ({@code rate} 0). */
    private ServingAverage(NdAccess params, double rate, long spanMillis) {
        this.params = params;
        this.rate = rate;
        this.spanMillis = spanMillis;
        average = new double[params.length()];
        trained = new double[params.length()];
        reset();
    }

    /**
     * An average over about {@code hours} of event time (at least one millisecond), started at the
     * parameters' current values; it moves only as {@link #advance} moves its clock.
     */
    public static ServingAverage overEventTime(NdAccess params, double hours) {
        long millis = Math.round(hours * 3_600_000);
        if (!(millis >= 1) || Double.isInfinite(hours)) {
            throw new IllegalArgumentException("the serving average's span must be more than 0 h: " + hours);
        }
        return new ServingAverage(params, 0, millis);
    }

    /** Whether the average is sized in event time ({@link #overEventTime}) rather than in steps. */
    public boolean inEventTime() {
        return spanMillis > 0;
    }

    /**
     * Before a step, sized in event time: moves the clock to {@code eventTime} (the newest impression
     * the trainer has trained, this step's included) and the average towards the parameters, which
     * held since the clock last moved; the first call only sets the clock, and a time that is not
     * later moves nothing. Sized in steps: nothing.
     */
    public void advance(long eventTime) {
        if (spanMillis == 0 || eventTime == Long.MIN_VALUE) {
            return;
        }
        if (clock != Long.MIN_VALUE && eventTime > clock) {
            moveTowardsParams(-Math.expm1(-(eventTime - clock) / spanMillis));
        }
        clock = Math.max(clock, eventTime);
    }

    /** Sets the clock, as the trainer's restored state records it ({@code Long.MIN_VALUE}: not yet). */
    public void restoreClock(long eventTime) {
        clock = eventTime;
    }

    /** Starts the average over at the parameters' current values (after they were set from outside). */
    public void reset() {
        params.read(0, average, 0, average.length);
    }

    /** After an optimizer step, sized in steps: moves the average towards the parameters. */
    public void update() {
        if (rate > 0) {
            moveTowardsParams(rate);
        }
    }

    private void moveTowardsParams(double fraction) {
        params.read(0, trained, 0, trained.length);
        for (int i = 0; i < average.length; i++) {
            average[i] += fraction * (trained[i] - average[i]);
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
