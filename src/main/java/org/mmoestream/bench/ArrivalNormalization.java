package org.mmoestream.bench;

import org.mmoestream.simulate.DriftingSimulator;

/**
 * An experiment of {@code bench feedback} (docs/fresh-labels-calibration.md): the conversions that
 * reach training weighed by their expected rate over their rate of the last hour, so that the
 * model's shared level learns the conversion rate over a long time constant instead of following
 * the noise of each hour's arrivals. Both rates are exponential moving averages over event time,
 * corrected for their start (as Adam corrects its moments): sends per millisecond over {@link
 * #SHORT} and over the long time constant.
 */
final class ArrivalNormalization {
    /** The short time constant: an hour of event time. */
    static final long SHORT = DriftingSimulator.HOUR;

    private final double longTau;
    private double shortSum;
    private double longSum;
    private long first = Long.MIN_VALUE;
    private long last = Long.MIN_VALUE;

    /** @param longTau the long time constant, event time (above {@link #SHORT}) */
    ArrivalNormalization(long longTau) {
        if (longTau <= SHORT) {
            throw new IllegalArgumentException("the long time constant must be above an hour: " + longTau);
        }
        this.longTau = longTau;
    }

    /** Counts a conversion sent to training at event time {@code t}. */
    void add(long t) {
        decay(t);
        shortSum++;
        longSum++;
    }

    /** The factor on the conversions trained at {@code t}: the long rate over the short one (1 before any). */
    double factor(long t) {
        decay(t);
        if (first == Long.MIN_VALUE || t <= first) {
            return 1;
        }
        double shortRate = shortSum / SHORT / -Math.expm1(-(double) (t - first) / SHORT);
        double longRate = longSum / longTau / -Math.expm1(-(t - first) / longTau);
        return shortRate > 0 ? longRate / shortRate : 1;
    }

    private void decay(long t) {
        if (first == Long.MIN_VALUE) {
            first = t;
            last = t;
        }
        if (t > last) {
            shortSum *= Math.exp(-(double) (t - last) / SHORT);
            longSum *= Math.exp(-(t - last) / longTau);
            last = t;
        }
    }
}
