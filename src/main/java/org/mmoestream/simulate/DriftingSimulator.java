package org.mmoestream.simulate;

import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Impressions over simulated days in which freshness matters (issue 13's simulator): items launch
 * all the time and are shown most while new, each item's click and conversion propensity drifts
 * over hours (a sine of its own period and phase) and starts with a novelty boost that fades;
 * clicks come minutes after the impression, conversions hours after the click with a long tail
 * (about 5% beyond a 24 h window). Event time is simulated and decoupled from the wall clock.
 * Deterministic in the seed.
 */
public final class DriftingSimulator {
    public static final long MINUTE = 60_000L;
    public static final long HOUR = 60 * MINUTE;
    public static final long DAY = 24 * HOUR;
    /** The mean of the click's delay after the impression (exponential). */
    public static final long MEAN_CLICK_DELAY = 3 * MINUTE;
    /** The mean of the conversion's delay after the click (exponential). */
    public static final long MEAN_CONVERSION_DELAY = 8 * HOUR;
    /** The impression's {@code item_age} feature: whole hours since the item launched, at most this. */
    public static final int MAX_AGE_HOURS = 48;

    /**
     * One impression with what happened to it: the click and conversion times ({@code -1}: none),
     * whatever the attribution windows, the hidden probabilities, the item's age (since its launch;
     * its whole hours, at most {@link #MAX_AGE_HOURS}, are the feature {@code item_age}) and the
     * item's index (its feature {@code item} is {@code i<index>}; items launch in index order). Its
     * request id and features are made when asked for, from what they hold: {@code bench feedback}
     * keeps tens of millions of impressions, and their strings would take three times the memory.
     *
     * @param user the user's index (its feature {@code user} is {@code u<index>}); below 0, an
     *     impression without features (see {@link #bare})
     * @param priceCents the price in hundredths, as its feature prints it with two decimals
     */
    public record Impression(
            long id,
            long ts,
            int user,
            int item,
            int device,
            int priceCents,
            int ageHours,
            double pClick,
            double pConversion,
            long clickTs,
            long conversionTs,
            long itemAge) {

        /** An impression without features ({@code {}}), for tests of what is made of its times. */
        public static Impression bare(
                long id,
                long ts,
                double pClick,
                double pConversion,
                long clickTs,
                long conversionTs,
                long itemAge,
                int item) {
            return new Impression(id, ts, -1, item, 0, 0, 0, pClick, pConversion, clickTs, conversionTs, itemAge);
        }

        /** Its request id, {@code q<id>}. */
        public String requestId() {
            return "q" + id;
        }

        /** Its features as its impression event carries them ({@code {}} for a {@link #bare} one). */
        public String featuresJson() {
            if (user < 0) {
                return "{}";
            }
            int fraction = priceCents % 100;
            return new StringBuilder(96)
                    .append("{\"user\":\"u")
                    .append(user)
                    .append("\",\"item\":\"i")
                    .append(item)
                    .append("\",\"device\":\"d")
                    .append(device)
                    .append("\",\"price\":")
                    .append(priceCents / 100)
                    .append(fraction < 10 ? ".0" : ".")
                    .append(fraction)
                    .append(",\"item_age\":")
                    .append(ageHours)
                    .append('}')
                    .toString();
        }

        /** The same impression with its conversion at {@code ts} ({@code -1}: none). */
        public Impression withConversionTs(long ts) {
            return new Impression(
                    id, this.ts, user, item, device, priceCents, ageHours, pClick, pConversion, clickTs, ts, itemAge);
        }
    }

    private final int users;
    private final int items;
    private final long start;
    private final long span;
    private final double[] userBias;
    private final double[] userBiasCvr;
    private final double[] itemBias;
    private final double[] itemBiasCvr;
    private final double[] itemPeriod;
    private final double[] itemPhase;
    private final double[] itemPhaseCvr;
    private final long[] itemLaunch;
    private final SplittableRandom rnd;
    private final double drift;

    /** The default amplitude of the items' drift, in logits. */
    public static final double DRIFT = 0.7;

    /** Items launch evenly from a day before {@code start} to {@code start + days}. */
    public DriftingSimulator(long seed, int users, int items, long start, int days) {
        this(seed, users, items, start, days, DRIFT);
    }

    /**
     * As above, with the amplitude (in logits) of the items' click and conversion propensities'
     * drift: {@link #DRIFT} by default, 0 for items whose propensities stay as they launched.
     */
    public DriftingSimulator(long seed, int users, int items, long start, int days, double drift) {
        this(seed, users, items, start, days, drift, ITEM_CVR_SD);
    }

    /** The default standard deviation of the items' own conversion propensities, in logits. */
    public static final double ITEM_CVR_SD = 0.8;

    /**
     * As above, with the standard deviation (in logits) of the items' own conversion propensities:
     * {@link #ITEM_CVR_SD} by default, 0 for items that differ in their click propensity only. Every
     * other draw stays the same.
     */
    public DriftingSimulator(long seed, int users, int items, long start, int days, double drift, double itemCvrSd) {
        this.drift = drift;
        this.users = users;
        this.items = items;
        this.start = start;
        this.span = days * DAY;
        SplittableRandom init = new SplittableRandom(seed);
        userBias = gaussian(init, users, 0.8);
        userBiasCvr = gaussian(init, users, 0.8);
        itemBias = gaussian(init, items, 0.8);
        itemBiasCvr = gaussian(init, items, itemCvrSd);
        itemPeriod = new double[items];
        itemPhase = new double[items];
        itemPhaseCvr = new double[items];
        itemLaunch = new long[items];
        for (int i = 0; i < items; i++) {
            itemPeriod[i] = (6 + 30 * init.nextDouble()) * HOUR;
            itemPhase[i] = 2 * Math.PI * init.nextDouble();
            itemPhaseCvr[i] = 2 * Math.PI * init.nextDouble();
            itemLaunch[i] = start - DAY + (long) ((span + DAY) * (double) i / items);
        }
        rnd = new SplittableRandom(seed + 1);
    }

    /**
     * The probability that {@code im} is clicked within {@code window} of it (its hidden click
     * probability times the chance that the click's delay is within the window).
     */
    public static double clickedWithin(Impression im, long window) {
        return im.pClick() * -Math.expm1(-(double) window / MEAN_CLICK_DELAY);
    }

    /** The probability that a click on {@code im} converts within {@code window} of the click. */
    public static double convertedWithin(Impression im, long window) {
        return im.pConversion() * conversionDelayWithin(window);
    }

    /** The chance that a conversion's delay after its click is at most {@code elapsed} (its exponential CDF). */
    public static double conversionDelayWithin(long elapsed) {
        return -Math.expm1(-(double) elapsed / MEAN_CONVERSION_DELAY);
    }

    private static double[] gaussian(SplittableRandom r, int n, double sd) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = r.nextGaussian() * sd;
        }
        return v;
    }

    private static double sigmoid(double z) {
        return 1 / (1 + Math.exp(-z));
    }

    /**
     * Item {@code item}'s own conversion propensity, in logits: what its impressions' hidden
     * conversion logit holds of the item beyond the user, the price and the drift.
     */
    public double itemCvrBias(int item) {
        return itemBiasCvr[item];
    }

    /**
     * Item {@code item}'s own conversion propensity at {@code ts}, in logits: its {@link #itemCvrBias}
     * plus its drift then, all that its impressions' hidden conversion logit holds of the item.
     */
    public double itemCvrOffset(int item, long ts) {
        return itemBiasCvr[item] + drift * Math.sin(2 * Math.PI * ts / itemPeriod[item] + itemPhaseCvr[item]);
    }

    /** The number of items launched by {@code ts}. */
    private int launched(long ts) {
        double f = (double) (ts - (start - DAY)) / (span + DAY);
        return (int) Math.max(1, Math.min(items, Math.floor(f * items) + 1));
    }

    /** Impression {@code n} at event time {@code ts}. */
    public Impression next(long n, long ts) {
        int u = (int) Math.min(users - 1, Math.floor(Math.pow(rnd.nextDouble(), 2) * users));
        int live = launched(ts);
        // Newer items are shown more: an exponential recency over the launched ones.
        int back = (int) Math.min(live - 1, Math.floor(-Math.log(1 - rnd.nextDouble()) * items * 0.05));
        int i = live - 1 - back;
        int device = rnd.nextInt(3);
        double price = Math.exp(rnd.nextGaussian() + 3);
        double age = Math.max(0, ts - itemLaunch[i]);
        double novelty = 0.6 * Math.exp(-age / (12.0 * HOUR));
        double wave = 2 * Math.PI * ts / itemPeriod[i];
        double zc =
                -2.2 + userBias[u] + itemBias[i] + novelty + drift * Math.sin(wave + itemPhase[i]) + 0.3 * (device - 1);
        double zv = -1.4
                + userBiasCvr[u]
                + itemBiasCvr[i]
                + drift * Math.sin(wave + itemPhaseCvr[i])
                - 0.3 * Math.log(price / 20);
        double pc = sigmoid(zc);
        double pv = sigmoid(zv);
        long clickTs = -1;
        long conversionTs = -1;
        if (rnd.nextDouble() < pc) {
            clickTs = ts + (long) (-Math.log(1 - rnd.nextDouble()) * MEAN_CLICK_DELAY);
            if (rnd.nextDouble() < pv) {
                conversionTs = clickTs + (long) (-Math.log(1 - rnd.nextDouble()) * MEAN_CONVERSION_DELAY);
            }
        }
        // The price's hundredths as "%.2f" rounds it, so its feature prints as it always has.
        int priceCents =
                Integer.parseInt(String.format(Locale.ROOT, "%.2f", price).replace(".", ""));
        int ageHours = (int) Math.min(MAX_AGE_HOURS, age / HOUR);
        return new Impression(n, ts, u, i, device, priceCents, ageHours, pc, pv, clickTs, conversionTs, (long) age);
    }
}
