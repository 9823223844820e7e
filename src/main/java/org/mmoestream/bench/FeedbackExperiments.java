package org.mmoestream.bench;

import java.util.Arrays;
import java.util.List;
import org.mmoestream.config.InputException;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.join.RecentDelays;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.simulate.DriftingSimulator;
import org.mmoestream.simulate.DriftingSimulator.Impression;

/**
 * The experiments of {@code bench feedback} (docs/fresh-labels-calibration.md), each set by a
 * system property ({@code -Dmmoe.bench.feedback.*}, through {@code MMOE_JAVA_OPTS}). They are read
 * once, when a bench is made ({@link #read}), so that a malformed value fails with one sentence
 * naming it ({@link InputException}, exit 2) before any impression is made, not after hours of
 * modes.
 *
 * @param drift the simulated items' drift amplitude, in logits
 * @param itemCvrSd the spread of the simulated items' own conversion propensities, in logits
 * @param hourly whether each head's calibration is printed for every simulated hour
 * @param maturedCalibration whether the {@link MaturedCalibration} experiment runs
 * @param delayedIdeal whether the {@link DelayedIdeal} learner is scored (with no drift only)
 * @param servingAverageSteps the serving average's time constant in optimizer steps, set in the spec's
 *     {@code optimizer.serving_average} (0: the spec's)
 * @param levelHours the {@link LevelFilter}'s time constant in simulated hours (0: off)
 * @param levelProbeAgeHours the age of the {@link LevelFilter}'s probe in simulated hours
 * @param levelProbeScored whether the {@link LevelFilter}'s probe is of impressions served, not examples trained
 * @param levelHeld the sparse feature whose rows the {@link LevelFilter} holds in its probe (null: none)
 * @param delayedCalibrationHours the windows of the {@link DelayedCalibration} experiment, in hours
 * @param delayedIdealMemoryHours the memories of the forgetting {@link DelayedIdeal} learners, in hours
 * @param rescoredCalibrationHours the window of the {@link RescoredCalibration} experiment in hours (0: off)
 * @param lateOracle whether the oracle's examples are sent late, each at its conversion or a drawn delay
 * @param arrivalNormalizedHours the long time constant of {@link ArrivalNormalization} in hours (0: off)
 * @param itemCalibrationHours the memories of the {@link ItemCalibration} experiment, in hours (none: off)
 * @param itemCalibrationPriors the {@link ItemCalibration}'s pseudo-counts of expected conversions per item
 * @param elapsedFeature whether each example trained carries the hours from its impression to its training
 *     as the spec's sparse feature {@code elapsed} (0 when served: {@link #ELAPSED_FEATURE})
 * @param warmup how an early mode trains the warm-up days ({@link #WARMUP})
 * @param delayPriorHours {@code fnw-matched}'s {@code join.conversion-delay-prior} in hours (0: none)
 * @param delaySample {@code fnw-matched}'s {@code join.conversion-delay-sample} ({@link #DELAY_SAMPLE})
 * @param seed the simulator's seed: other days of the same world
 */
record FeedbackExperiments(
        double drift,
        double itemCvrSd,
        boolean hourly,
        boolean maturedCalibration,
        boolean delayedIdeal,
        double servingAverageSteps,
        double levelHours,
        double levelProbeAgeHours,
        boolean levelProbeScored,
        String levelHeld,
        int[] delayedCalibrationHours,
        int[] delayedIdealMemoryHours,
        int rescoredCalibrationHours,
        boolean lateOracle,
        int arrivalNormalizedHours,
        int[] itemCalibrationHours,
        double[] itemCalibrationPriors,
        boolean elapsedFeature,
        Warmup warmup,
        double delayPriorHours,
        int delaySample,
        long seed) {

    /**
     * How an early mode trains the warm-up days ({@link #WARMUP}): {@code stream}, through its own
     * join, as a job that has been running; {@code logged}, as a job started from a model trained
     * offline on the logged days ({@code train-file --save}, then {@code train.init-from}): each
     * impression of those days trained once, when it happened and without feedback weights, with the
     * labels the log has when the scored days start (conversions still to come are missing), the
     * optimizer's state carried; the join then starts empty, and the events after the switch of
     * impressions before it are not joined (a new job has no state for them); {@code final}, the
     * same with the final labels, which no log has at the switch: the best a history can be.
     */
    enum Warmup {
        STREAM,
        LOGGED,
        FINAL
    }

    /**
     * The system property that sets the simulator's seed (a whole number; 7 by default), to see
     * whether a figure holds on other days of the same world.
     */
    static final String SEED = "mmoe.bench.feedback.seed";

    /** The system property that sets the simulated items' drift amplitude (logits; 0.7 by default). */
    static final String DRIFT = "mmoe.bench.feedback.drift";

    /**
     * The spread of the items' own conversion propensities ({@link DriftingSimulator#ITEM_CVR_SD}
     * by default), to tell what the new items' unknown propensities cost
     * (docs/fresh-labels-calibration.md).
     */
    static final String ITEM_CVR_SD = "mmoe.bench.feedback.item-cvr-sd";

    /**
     * The system property that sets the spec's {@code optimizer.serving_average} ({@link
     * org.mmoestream.model.ServingAverage}): its time constant in optimizer steps (0, the default: the
     * spec's).
     */
    static final String SERVING_AVERAGE = "mmoe.bench.feedback.serving-average";

    /**
     * The system property that turns on the {@link LevelFilter} experiment: its time constant in
     * simulated hours (0, the default: the model's level is served as trained).
     */
    static final String LEVEL_FILTER = "mmoe.bench.feedback.level-filter";

    /** Event time between two of the {@link LevelFilter}'s measurements. */
    static final long LEVEL_PERIOD = 5 * DriftingSimulator.MINUTE;

    /** The age of the {@link LevelFilter}'s probe, in simulated hours (24 by default). */
    static final String LEVEL_PROBE_AGE = "mmoe.bench.feedback.level-probe-age";

    /**
     * What the {@link LevelFilter}'s probe is of: {@code trained} (the default), the examples trained
     * last, or {@code scored}, the impressions served last, which the conversion head has not yet
     * trained on.
     */
    static final String LEVEL_PROBE = "mmoe.bench.feedback.level-probe";

    /**
     * The sparse feature (of the spec) whose embedding rows the {@link LevelFilter} predicts its probe
     * with as they were when the probe was taken ({@link LevelFilter#holdingRows}; none by default).
     */
    static final String LEVEL_HELD = "mmoe.bench.feedback.level-held";

    /** Examples in the {@link LevelFilter}'s probe. */
    static final int LEVEL_PROBE_SIZE = 4096;

    /** The system property that turns on the {@link DelayedIdeal} experiment (with no drift only). */
    static final String DELAYED_IDEAL = "mmoe.bench.feedback.delayed-ideal";

    /**
     * The system property that scores {@link DelayedIdeal} learners that forget, also with drift: their
     * memories in whole simulated hours (1 to 240), separated by commas.
     */
    static final String DELAYED_IDEAL_MEMORY = "mmoe.bench.feedback.delayed-ideal-memory";

    /**
     * The system property that turns on the {@link RescoredCalibration} experiment: its window in whole
     * simulated hours (1 to 24, the conversion window).
     */
    static final String RESCORED_CALIBRATION = "mmoe.bench.feedback.rescored-calibration";

    /**
     * The system property that sends the oracle's examples late (printed as {@code oracle-late}): each
     * impression once with its final labels, at its conversion if it converts, else at a delay drawn
     * from the conversions' delays.
     */
    static final String LATE_ORACLE = "mmoe.bench.feedback.late-oracle";

    /**
     * The system property that turns on the {@link ArrivalNormalization} experiment: its long time
     * constant in whole simulated hours (2 to 240).
     */
    static final String ARRIVAL_NORMALIZED = "mmoe.bench.feedback.arrival-normalized";

    /** The system property that prints each head's calibration in every simulated hour. */
    static final String HOURLY = "mmoe.bench.feedback.hourly";

    /** The system property that turns on the {@link MaturedCalibration} experiment. */
    static final String MATURED_CALIBRATION = "mmoe.bench.feedback.matured-calibration";

    /**
     * The system property that turns on the {@link DelayedCalibration} experiment: its windows in
     * whole simulated hours (1 to 24, the conversion window), separated by commas.
     */
    static final String DELAYED_CALIBRATION = "mmoe.bench.feedback.delayed-calibration";

    /**
     * The system property that turns on the {@link ItemCalibration} experiment: its memories in whole
     * simulated hours (1 to 240), separated by commas.
     */
    static final String ITEM_CALIBRATION = "mmoe.bench.feedback.item-calibration";

    /**
     * The {@link ItemCalibration}'s pseudo-counts of expected conversions per item, separated by commas
     * (20 by default).
     */
    static final String ITEM_CALIBRATION_PRIOR = "mmoe.bench.feedback.item-calibration-prior";

    /**
     * The system property that gives every example trained the whole hours from its impression to
     * its training (capped at {@link #ELAPSED_CAP_HOURS}) as the spec's sparse feature {@code
     * elapsed}, and every impression served 0: what training knows of an item's conversions then,
     * which serving does not yet, kept out of what is served (docs/fresh-labels-calibration.md). As
     * a bias feature (the bias tower's, served at {@code model.bias_serving: {elapsed: 0}}) it
     * stays out of the main network.
     */
    static final String ELAPSED_FEATURE = "mmoe.bench.feedback.elapsed-feature";

    /** The system property that sets the {@link Warmup} ({@code stream} by default). */
    static final String WARMUP = "mmoe.bench.feedback.warmup";

    /**
     * The system property that sets {@code fnw-matched}'s {@code join.conversion-delay-prior}, in
     * simulated hours (0, the default: none). The simulator's delay from impression to conversion is
     * a click's 3 minutes and a conversion's 8 hours on average, both exponential: 8.05 h.
     */
    static final String DELAY_PRIOR = "mmoe.bench.feedback.delay-prior";

    /**
     * The system property that sets {@code fnw-matched}'s {@code join.conversion-delay-sample}, the
     * delays its join keeps to draw from ({@link RecentDelays#DEFAULT_SIZE} by default).
     */
    static final String DELAY_SAMPLE = "mmoe.bench.feedback.delay-sample";

    /** The highest value of the {@link #ELAPSED_FEATURE}: the windows' 24.5 h and a little more. */
    static final int ELAPSED_CAP_HOURS = 25;

    /** The experiments as the system properties set them now; one sentence naming a malformed one. */
    static FeedbackExperiments read() {
        double drift = number(DRIFT, DriftingSimulator.DRIFT);
        boolean delayedIdeal = flag(DELAYED_IDEAL);
        if (delayedIdeal && drift != 0) {
            throw new InputException("the delayed-ideal experiment needs items that do not drift: -D" + DRIFT + "=0");
        }
        double servingAverageSteps = number(SERVING_AVERAGE, 0);
        if (servingAverageSteps > 0 && servingAverageSteps < 1) {
            throw new InputException(
                    "-D" + SERVING_AVERAGE + "=" + servingAverageSteps + " is below one optimizer step");
        }
        return new FeedbackExperiments(
                drift,
                number(ITEM_CVR_SD, DriftingSimulator.ITEM_CVR_SD),
                flag(HOURLY),
                flag(MATURED_CALIBRATION),
                delayedIdeal,
                servingAverageSteps,
                number(LEVEL_FILTER, 0),
                number(LEVEL_PROBE_AGE, 24),
                readProbeScored(),
                System.getProperty(LEVEL_HELD),
                hoursList(DELAYED_CALIBRATION, 24),
                hoursList(DELAYED_IDEAL_MEMORY, 240),
                hoursOrOff(RESCORED_CALIBRATION, 1, 24),
                flag(LATE_ORACLE),
                hoursOrOff(ARRIVAL_NORMALIZED, 2, 240),
                hoursList(ITEM_CALIBRATION, 240),
                numbers(ITEM_CALIBRATION_PRIOR, "20"),
                flag(ELAPSED_FEATURE),
                readWarmup(),
                number(DELAY_PRIOR, 0),
                readDelaySample(),
                readSeed());
    }

    /** {@link #DELAY_SAMPLE}'s size: a whole number from 1 to {@link RecentDelays#MAX_SIZE}, else one sentence. */
    private static int readDelaySample() {
        String v = System.getProperty(DELAY_SAMPLE);
        return v == null
                ? RecentDelays.DEFAULT_SIZE
                : (int) whole(DELAY_SAMPLE, v, " of delays", 1, RecentDelays.MAX_SIZE);
    }

    /** Whether {@link #LEVEL_PROBE} is {@code scored} ({@code trained} if not set); one sentence naming it if not. */
    private static boolean readProbeScored() {
        String v = System.getProperty(LEVEL_PROBE, "trained");
        if (!v.equals("trained") && !v.equals("scored")) {
            throw new InputException("-D" + LEVEL_PROBE + "=" + v + " is not trained or scored");
        }
        return v.equals("scored");
    }

    /** The {@link Warmup} that {@link #WARMUP} names, {@code stream} if not set; else one sentence. */
    private static Warmup readWarmup() {
        String v = System.getProperty(WARMUP, "stream");
        try {
            return Warmup.valueOf(v.trim().toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new InputException("-D" + WARMUP + "=" + v + " is not stream, logged or final");
        }
    }

    /** The simulator's seed that {@link #SEED} sets, 7 if not set; one sentence naming it if not whole. */
    private static long readSeed() {
        String v = System.getProperty(SEED);
        return v == null ? 7 : whole(SEED, v, "", 0, 1L << 53);
    }

    /** The whole hours from {@code min} to {@code max} that {@code property} sets; 0 (off) if not set. */
    private static int hoursOrOff(String property, int min, int max) {
        String v = System.getProperty(property);
        return v == null ? 0 : hours(property, v, min, max);
    }

    /**
     * The spread of the items' own conversion propensities over items and time, in logits: their
     * constant part's and their drift's (a sine of amplitude {@code drift}, whose variance is half its
     * square).
     */
    double itemCvrSpread() {
        return Math.sqrt(itemCvrSd * itemCvrSd + drift * drift / 2);
    }

    /** The whole hours from 1 to {@code max} of {@code property}, separated by commas; none if not set. */
    private static int[] hoursList(String property, int max) {
        String list = System.getProperty(property, "").trim();
        return list.isEmpty()
                ? new int[0]
                : Arrays.stream(list.split(","))
                        .mapToInt(h -> hours(property, h, 1, max))
                        .toArray();
    }

    /** The numbers of at least 0 that {@code property} sets, separated by commas; {@code dflt}'s if not set. */
    private static double[] numbers(String property, String dflt) {
        return Arrays.stream(System.getProperty(property, dflt).split(","))
                .mapToDouble(v -> number(property, v.trim()))
                .toArray();
    }

    /** {@code v} as a figure's name has it: whole without a point, else with {@code _} for the point. */
    static String name(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v).replace('.', '_');
    }

    /** The simulator of {@code bench feedback} over {@code days} from {@link FeedbackBench#START}. */
    DriftingSimulator simulator(int days) {
        return new DriftingSimulator(seed, 20_000, 20_000, FeedbackBench.START, days, drift, itemCvrSd);
    }

    /**
     * The index among {@code spec}'s sparse features of the one whose rows the {@link LevelFilter} holds
     * ({@link #LEVEL_HELD}), -1 for none; one sentence naming the property if the spec has no such feature.
     */
    int levelHeldTable(ModelSpec spec) {
        if (levelHeld == null) {
            return -1;
        }
        List<SparseFeature> sparse = spec.features().sparse();
        for (int t = 0; t < sparse.size(); t++) {
            if (sparse.get(t).name().equals(levelHeld)) {
                return t;
            }
        }
        throw new InputException(
                "-D" + LEVEL_HELD + "=" + levelHeld + " names no sparse feature of the spec " + spec.name());
    }

    /** With the {@link #ELAPSED_FEATURE} on, one sentence if {@code spec} has no sparse feature {@code elapsed}. */
    void requireElapsedFeature(ModelSpec spec) {
        if (elapsedFeature
                && spec.features().sparse().stream().noneMatch(f -> f.name().equals("elapsed"))) {
            throw new InputException(
                    "-D" + ELAPSED_FEATURE + "=true needs a sparse feature elapsed in the spec " + spec.name());
        }
    }

    /**
     * The features of {@code im} trained or served at {@code now}: its own and, with the {@link
     * #ELAPSED_FEATURE} on, the whole hours since it (0 when served).
     */
    String features(Impression im, long now) {
        String json = im.featuresJson();
        if (!elapsedFeature) {
            return json;
        }
        long hours = Math.min(ELAPSED_CAP_HOURS, (now - im.ts()) / DriftingSimulator.HOUR);
        return json.substring(0, json.length() - 1) + ",\"elapsed\":" + hours + "}";
    }

    /** Whether the served predictions of every impression are kept for a calibration experiment. */
    boolean keepsServed() {
        return maturedCalibration || delayedCalibrationHours.length > 0 || itemCalibrationHours.length > 0;
    }

    /**
     * The value of the system property {@code property}, {@code dflt} when it is not set; an {@link
     * InputException} naming it when it is not a number of at least 0.
     */
    private static double number(String property, double dflt) {
        String v = System.getProperty(property);
        return v == null ? dflt : number(property, v);
    }

    /**
     * Whether the experiment switched on by the system property {@code property} is on: false when it
     * is not set, else its value, which must be {@code true} or {@code false} (one sentence naming it).
     */
    private static boolean flag(String property) {
        String v = System.getProperty(property);
        if (v == null || v.equalsIgnoreCase("false")) {
            return false;
        }
        if (v.equalsIgnoreCase("true")) {
            return true;
        }
        throw new InputException("-D" + property + "=" + v + " is not true or false");
    }

    /** One of {@code property}'s hours: whole, from {@code min} to {@code max}, else one sentence naming it. */
    private static int hours(String property, String hours, int min, int max) {
        return (int) whole(property, hours, " of hours", min, max);
    }

    /**
     * {@code property}'s value {@code v}: a whole number (of {@code unit}) from {@code min} to {@code
     * max}, else one sentence naming it.
     */
    private static long whole(String property, String v, String unit, long min, long max) {
        double d = number(property, v.trim());
        if (d < min || d != Math.rint(d) || d > max) {
            throw new InputException("-D" + property + ": " + v.trim() + " is not a whole number" + unit + " from "
                    + min + " to " + max);
        }
        return (long) d;
    }

    private static double number(String property, String v) {
        double d;
        try {
            d = Double.parseDouble(v);
        } catch (NumberFormatException e) {
            d = Double.NaN;
        }
        if (!(d >= 0) || Double.isInfinite(d)) {
            throw new InputException("-D" + property + "=" + v + " is not a number of at least 0");
        }
        return d;
    }
}
