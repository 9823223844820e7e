package org.mmoestream.model.optim;

import java.util.Locale;

/**
 * Immutable optimizer settings. SGD needs no state, Adagrad one slot (the squared-gradient sum),
 * Adam two (first and second moments). L2 applies to weights and embedding rows, not biases;
 * {@code clipNorm} > 0 rescales the whole gradient to that global L2 norm when it is larger.
 * {@code servingAverage} > 0 (at least 1): what a trainer publishes is the moving average of the
 * dense parameters over about that many optimizer steps ({@link org.mmoestream.model.ServingAverage});
 * {@code servingAverageHours} > 0 instead: over about that many hours of event time, whatever the
 * traffic; both 0: the parameters as trained. At most one of the two is above 0.
 */
public record OptimizerConfig(
        Kind kind,
        double learningRate,
        double beta1,
        double beta2,
        double epsilon,
        double initialAccumulator,
        double l2,
        double clipNorm,
        double servingAverage,
        double servingAverageHours) {

    public OptimizerConfig {
        if (servingAverage > 0 && servingAverageHours > 0) {
            throw new IllegalArgumentException("a serving average is sized in steps or in hours, not both");
        }
    }

    /** The update rule. */
    public enum Kind {
        SGD,
        ADAGRAD,
        ADAM;

        public String key() {
            return name().toLowerCase(Locale.ROOT);
        }

        public static Kind parse(String s) {
            for (Kind k : values()) {
                if (k.key().equals(s)) {
                    return k;
                }
            }
            return null;
        }
    }

    /** Defaults per kind: SGD lr 0.05; Adagrad lr 0.05, initial accumulator 0 (as PyTorch); Adam lr 0.001. */
    public static OptimizerConfig defaults(Kind kind) {
        return switch (kind) {
            case SGD -> new OptimizerConfig(kind, 0.05, 0, 0, 0, 0, 0, 0, 0, 0);
            case ADAGRAD -> new OptimizerConfig(kind, 0.05, 0, 0, 1e-10, 0.0, 0, 0, 0, 0);
            case ADAM -> new OptimizerConfig(kind, 0.001, 0.9, 0.999, 1e-8, 0, 0, 0, 0, 0);
        };
    }

    /** State values kept per parameter. */
    public int stateSlots() {
        return switch (kind) {
            case SGD -> 0;
            case ADAGRAD -> 1;
            case ADAM -> 2;
        };
    }

    /** Initial value of state slot {@code slot}. */
    public double initialState(int slot) {
        return kind == Kind.ADAGRAD ? initialAccumulator : 0.0;
    }

    public OptimizerConfig withLearningRate(double lr) {
        return new OptimizerConfig(
                kind, lr, beta1, beta2, epsilon, initialAccumulator, l2, clipNorm, servingAverage, servingAverageHours);
    }

    public OptimizerConfig withInitialAccumulator(double value) {
        return new OptimizerConfig(
                kind, learningRate, beta1, beta2, epsilon, value, l2, clipNorm, servingAverage, servingAverageHours);
    }

    /** As this with the serving average's time constant at {@code steps} (0: off), not sized in hours. */
    public OptimizerConfig withServingAverage(double steps) {
        return new OptimizerConfig(
                kind, learningRate, beta1, beta2, epsilon, initialAccumulator, l2, clipNorm, steps, 0);
    }

    /** As this with the serving average over {@code hours} of event time (0: off), not sized in steps. */
    public OptimizerConfig withServingAverageHours(double hours) {
        return new OptimizerConfig(
                kind, learningRate, beta1, beta2, epsilon, initialAccumulator, l2, clipNorm, 0, hours);
    }

    /** Whether the trainer serves a moving average of the dense parameters. */
    public boolean averaged() {
        return servingAverage > 0 || servingAverageHours > 0;
    }
}
