package org.mmoestream.train;

import java.util.Locale;
import org.mmoestream.model.optim.OptimizerConfig;

/**
 * How much event time a model's serving average spans: its time constant in optimizer steps
 * ({@code optimizer.serving_average}) times the event time a step moves the newest impression
 * trained (its mean over the steps measured, then its moving average over about the last {@link
 * #MEMORY_STEPS}). The average is sized in steps, so one spec spans a few hours of a busy stream and
 * days of a quiet one, where it serves a model that long behind the labels (README, the {@code
 * optimizer.serving_average} row); the trainer's gauge {@code serving_average_hours} and {@code
 * bench feedback}'s line of that name show which, and {@link #warning} says so once. An average
 * sized in event time ({@code optimizer.serving_average_hours}) spans its hours at any traffic.
 */
public final class ServingSpan {
    /** About how many of the last steps the event time per step is averaged over. */
    static final double MEMORY_STEPS = 1000;
    /** The span past which {@link #warning} speaks. */
    static final double WARN_HOURS = 24;
    /** The span the README advises for a stream whose make-up drifts within the day. */
    static final double ADVISED_HOURS = 3;

    private final double steps;
    /** The span of an average sized in event time; NaN otherwise. */
    private final double fixedHours;

    private long clock = Long.MIN_VALUE;
    private long lastStep;
    private double millisPerStep = Double.NaN;
    private double measuredSteps;
    private boolean warned;

    /** For a serving average over {@code steps} optimizer steps (0: none). */
    public ServingSpan(double steps) {
        this.steps = steps;
        this.fixedHours = Double.NaN;
    }

    private ServingSpan(double steps, double fixedHours) {
        this.steps = steps;
        this.fixedHours = fixedHours;
    }

    /** For the serving average of {@code optimizer}: sized in steps, in event time, or none. */
    public static ServingSpan of(OptimizerConfig optimizer) {
        return optimizer.servingAverageHours() > 0
                ? new ServingSpan(0, optimizer.servingAverageHours())
                : new ServingSpan(optimizer.servingAverage());
    }

    /** After a training call: the model's optimizer steps so far and the newest impression trained (event time). */
    public void record(long step, long trainedUpTo) {
        if (trainedUpTo == Long.MIN_VALUE) {
            return;
        }
        if (clock == Long.MIN_VALUE) {
            clock = trainedUpTo;
            lastStep = step;
            return;
        }
        if (step <= lastStep) {
            return;
        }
        long k = step - lastStep;
        double perStep = (double) (trainedUpTo - clock) / k;
        measuredSteps += k;
        // The mean over the steps measured, and once there are MEMORY_STEPS of them a moving average.
        millisPerStep = Double.isNaN(millisPerStep)
                ? perStep
                : millisPerStep + k / Math.min(measuredSteps, MEMORY_STEPS) * (perStep - millisPerStep);
        clock = trainedUpTo;
        lastStep = step;
    }

    /**
     * Hours of event time the serving average spans; NaN without one, or, sized in steps, before two
     * steps were seen.
     */
    public double hours() {
        if (!Double.isNaN(fixedHours)) {
            return fixedHours;
        }
        return steps > 0 ? steps * millisPerStep / 3_600_000 : Double.NaN;
    }

    /**
     * Once, when the average spans more than {@link #WARN_HOURS} after {@link #MEMORY_STEPS} steps
     * measured: what it spans and the steps that would span {@link #ADVISED_HOURS}; else null.
     */
    String warning(String model) {
        double h = hours();
        if (warned || !(h > WARN_HOURS) || measuredSteps < MEMORY_STEPS) {
            return null;
        }
        warned = true;
        return String.format(
                Locale.ROOT,
                "model %s: the serving average over %.0f optimizer steps (optimizer.serving_average) spans %.1f h of"
                        + " event time at this traffic, so the versions serve the parameters of about that long ago;"
                        + " about %.0f steps would span %.0f h (or size it in event time with"
                        + " optimizer.serving_average_hours)",
                model,
                steps,
                h,
                Math.max(1, ADVISED_HOURS * 3_600_000 / millisPerStep),
                ADVISED_HOURS);
    }
}
