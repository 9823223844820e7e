package org.mmoestream.bench;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.PriorityQueue;
import org.apache.commons.math3.stat.correlation.PearsonsCorrelation;
import org.apache.commons.math3.stat.descriptive.moment.StandardDeviation;
import org.mmoestream.event.Event;
import org.mmoestream.event.LabeledExample;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.join.AttributionPolicy;
import org.mmoestream.join.Feedback;
import org.mmoestream.join.JoinListener;
import org.mmoestream.join.JoinState;
import org.mmoestream.model.Batch;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.SpecLoader;
import org.mmoestream.model.TaskMetrics;
import org.mmoestream.simulate.DriftingSimulator;
import org.mmoestream.simulate.DriftingSimulator.Impression;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Label freshness ({@code bin/mmoe bench feedback}): the same simulated days of drifting items
 * ({@link DriftingSimulator}) through the label join's policy ({@link AttributionPolicy}, in
 * event-time order, timers at their deadlines) and the model core's training step, once per mode:
 * {@code oracle} (each impression trained at once with its final labels, which no stream can know:
 * the upper bound), {@code wait}, {@code fnw}, {@code fnc}, {@code defer} and {@code es-dfm} ({@code
 * join.feedback}; es-dfm with the conversion's delay heads added to the spec), beside {@code truth}, the
 * simulator's hidden probabilities served as predictions (the floor of every mode's hourly calibration).
 * Each mode first streams {@code warmupDays} simulated days unscored, as a job that has been running
 * (Yang et al. start every method from a model pretrained on earlier days; a stream needs a
 * conversion window before its first real negatives, and with them es-dfm's f_rn head, exist),
 * then {@code days} days with serving-time evaluation, as in Yang et al. (AAAI 2021): each impression
 * is scored, when it happens, by the model as trained up to then, against its final labels (click
 * within the click window, conversion within the conversion window after it); per task AUC,
 * log-loss and calibration over every simulated hour after the first, the lowest and highest
 * calibration of those hours, and the label latency: the event time from an impression to its first
 * example leaving the join (the pipeline's trainer adds at most {@code train.max-wait}, its
 * publisher {@code publish.interval}). Examples are trained in batches of 256 as they leave the join.
 */
public final class FeedbackBench {
    static final long CLICK_WINDOW = 30 * DriftingSimulator.MINUTE;
    static final long CONVERSION_WINDOW = DriftingSimulator.DAY;
    static final long START = 1_767_225_600_000L;
    static final String[] HEADS = {"ctr", "cvr", "ctcvr"};

    private final int warmupDays;
    private final int days;
    private final int perDay;
    private final long observationWindow;
    private final long elapsedWindow;
    private final PrintStream out;
    /** The last mode's join states (requests pending) on average over the scored impressions' arrivals. */
    private double pendingRequests;
    /** The experiments' system properties, read when the bench is made (README, Fresh labels). */
    private final double servingAverageSteps;

    private final double levelHours;
    private final double levelProbeAgeHours;
    private final int[] delayedCalibrationHours;
    private final boolean maturedCalibration;
    private final boolean delayedIdeal;

    /**
     * @param warmupDays simulated days each mode trains on before the scored ones
     * @param days scored simulated days
     * @param observationWindow {@code join.observation-window} of fnw and fnc
     * @param elapsedWindow {@code join.observation-window} of es-dfm (the paper's c)
     */
    public FeedbackBench(
            int warmupDays, int days, int perDay, long observationWindow, long elapsedWindow, PrintStream out) {
        this.warmupDays = warmupDays;
        this.days = days;
        this.perDay = perDay;
        this.observationWindow = observationWindow;
        this.elapsedWindow = elapsedWindow;
        this.out = out;
        // Read here so that a malformed value fails before the impressions are made.
        double drift = drift();
        itemCvrSd();
        flag(HOURLY);
        maturedCalibration = flag(MATURED_CALIBRATION);
        delayedIdeal = flag(DELAYED_IDEAL);
        if (delayedIdeal && drift != 0) {
            throw new org.mmoestream.config.InputException(
                    "the delayed-ideal experiment needs items that do not drift: -D" + DRIFT + "=0");
        }
        servingAverageSteps = number(SERVING_AVERAGE, 0);
        if (servingAverageSteps > 0 && servingAverageSteps < 1) {
            throw new org.mmoestream.config.InputException(
                    "-D" + SERVING_AVERAGE + "=" + servingAverageSteps + " is below one optimizer step");
        }
        levelHours = number(LEVEL_FILTER, 0);
        levelProbeAgeHours = number(LEVEL_PROBE_AGE, 24);
        String windows = System.getProperty(DELAYED_CALIBRATION, "").trim();
        delayedCalibrationHours = windows.isEmpty()
                ? new int[0]
                : Arrays.stream(windows.split(","))
                        .mapToInt(FeedbackBench::hours)
                        .toArray();
    }

    /**
     * The value of the system property {@code property}, {@code dflt} when it is not set; an {@link
     * org.mmoestream.config.InputException} naming it when it is not a number of at least 0.
     */
    static double number(String property, double dflt) {
        String v = System.getProperty(property);
        return v == null ? dflt : number(property, v);
    }

    /**
     * Whether the experiment switched on by the system property {@code property} is on: false when it
     * is not set, else its value, which must be {@code true} or {@code false} (one sentence naming it).
     */
    static boolean flag(String property) {
        String v = System.getProperty(property);
        if (v == null || v.equalsIgnoreCase("false")) {
            return false;
        }
        if (v.equalsIgnoreCase("true")) {
            return true;
        }
        throw new org.mmoestream.config.InputException("-D" + property + "=" + v + " is not true or false");
    }

    /** A window of {@link #DELAYED_CALIBRATION}: whole hours above 0, else one sentence naming it. */
    private static int hours(String window) {
        double d = number(DELAYED_CALIBRATION, window.trim());
        if (d < 1 || d != Math.rint(d) || d > 24) {
            throw new org.mmoestream.config.InputException(
                    "-D" + DELAYED_CALIBRATION + ": " + window.trim() + " is not a whole number of hours from 1 to 24");
        }
        return (int) d;
    }

    private static double number(String property, String v) {
        double d;
        try {
            d = Double.parseDouble(v);
        } catch (NumberFormatException e) {
            d = Double.NaN;
        }
        if (!(d >= 0) || Double.isInfinite(d)) {
            throw new org.mmoestream.config.InputException(
                    "-D" + property + "=" + v + " is not a number of at least 0");
        }
        return d;
    }

    /** What one mode measured. */
    record Result(
            double[] auc,
            double[] logLoss,
            double[] calibration,
            double[] minHourCalibration,
            double[] maxHourCalibration,
            double[] minHourTruthCalibration,
            double[] maxHourTruthCalibration,
            double[][] hourly,
            double[][] truthRatioHourly,
            double[][][] truthRatioHalves,
            double[][] truthRatioByAge,
            long latencyP50,
            long latencyP99,
            long examples) {}

    public void run(List<String> modes) {
        run(SpecLoader.load(Path.of("examples/ctr-cvr.yaml")), modes);
    }

    /** Every mode of {@code modes} on the same simulated days with {@code spec} (tasks ctr and cvr). */
    public void run(ModelSpec spec, List<String> modes) {
        DriftingSimulator sim = simulator(warmupDays + days);
        Impression[] imps = impressions(sim, warmupDays + days, perDay);
        int n = imps.length;
        out.printf(Locale.ROOT, "feedback.impressions %d count%n", n);
        out.printf(Locale.ROOT, "feedback.impressions_scored %d count%n", n - (long) warmupDays * perDay);
        Result truth = truth(imps);
        printHeads(out, "feedback.truth", truth);
        java.util.Map<String, Result> results = new java.util.LinkedHashMap<>();
        if (delayedIdeal) {
            Result ideal = delayedIdeal(sim, imps);
            printHeads(out, "feedback.delayed-ideal", ideal);
            results.put("delayed-ideal", ideal);
        }
        for (String mode : modes) {
            long t0 = System.nanoTime();
            Result r = run(spec, imps, mode);
            results.put(mode, r);
            printHeads(out, "feedback." + mode, r);
            out.printf(Locale.ROOT, "feedback.%s.label_latency_p50 %.1f s%n", mode, r.latencyP50 / 1000.0);
            out.printf(Locale.ROOT, "feedback.%s.label_latency_p99 %.1f s%n", mode, r.latencyP99 / 1000.0);
            out.printf(Locale.ROOT, "feedback.%s.examples_trained %d count%n", mode, r.examples);
            if (!mode.equals("oracle")) {
                out.printf(Locale.ROOT, "feedback.%s.join_pending_requests %.0f count%n", mode, pendingRequests);
            }
            out.printf(Locale.ROOT, "feedback.%s.seconds %.1f s%n", mode, (System.nanoTime() - t0) / 1e9);
        }
        printArrivals(imps, truth, results);
        Result oracle = results.get("oracle");
        Result wait = results.get("wait");
        if (oracle != null && wait != null) {
            for (var e : results.entrySet()) {
                if (!modes.contains(e.getKey())
                        || e.getKey().equals("oracle")
                        || e.getKey().equals("wait")) {
                    continue;
                }
                for (int h = 0; h < HEADS.length; h++) {
                    double gap = oracle.auc[h] - wait.auc[h];
                    out.printf(
                            Locale.ROOT,
                            "feedback.%s.%s.gap_closed %.2f ratio%n",
                            e.getKey(),
                            HEADS[h],
                            (e.getValue().auc[h] - wait.auc[h]) / gap);
                }
            }
        }
    }

    /** The system property that sets the simulated items' drift amplitude (logits; 0.7 by default). */
    static final String DRIFT = "mmoe.bench.feedback.drift";

    /**
     * The spread of the items' own conversion propensities ({@link DriftingSimulator#ITEM_CVR_SD} by
     * default), to tell what the new items' unknown propensities cost (README, Fresh labels).
     */
    static final String ITEM_CVR_SD = "mmoe.bench.feedback.item-cvr-sd";

    /**
     * The system property that turns on the {@link ServingAverage} experiment: its time constant in
     * optimizer steps (0, the default: the trained values are served).
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

    /** Examples in the {@link LevelFilter}'s probe. */
    static final int LEVEL_PROBE = 4096;

    /** The system property that turns on the {@link DelayedIdeal} experiment (with no drift only). */
    static final String DELAYED_IDEAL = "mmoe.bench.feedback.delayed-ideal";

    /** The system property that prints each head's calibration in every simulated hour. */
    static final String HOURLY = "mmoe.bench.feedback.hourly";

    /** The system property that turns on the {@link MaturedCalibration} experiment. */
    static final String MATURED_CALIBRATION = "mmoe.bench.feedback.matured-calibration";

    /**
     * The system property that turns on the {@link DelayedCalibration} experiment: its windows in
     * whole simulated hours (1 to 24, the conversion window), separated by commas.
     */
    static final String DELAYED_CALIBRATION = "mmoe.bench.feedback.delayed-calibration";

    /** The conversion head's hourly figures of {@link DelayedCalibration} over {@code window} hours. */
    private void printDelayedCalibration(String mode, int window, DelayedCalibration.Ranges r) {
        String p = "feedback." + mode + ".cvr.delayed_calibration_" + window + "h";
        String[] what = {
            "calibration_hourly_min",
            "calibration_hourly_max",
            "truth_ratio_hourly_min",
            "truth_ratio_hourly_max",
            "truth_ratio_hourly_sd"
        };
        for (int i = 0; i < what.length; i++) {
            out.printf(Locale.ROOT, "%s.raw.%s %.4f ratio%n", p, what[i], r.raw()[i]);
            out.printf(Locale.ROOT, "%s.calibrated.%s %.4f ratio%n", p, what[i], r.calibrated()[i]);
        }
        out.printf(Locale.ROOT, "%s.first_hour %d count%n", p, r.firstHour());
    }

    /** The hourly ranges of {@link MaturedCalibration}, raw and calibrated, per head. */
    private void printMaturedCalibration(String mode, MaturedCalibration.Ranges r) {
        for (int h = 0; h < HEADS.length; h++) {
            String p = "feedback." + mode + "." + HEADS[h] + ".matured_calibration";
            String[] what = {
                "calibration_hourly_min", "calibration_hourly_max", "truth_ratio_hourly_min", "truth_ratio_hourly_max"
            };
            for (int i = 0; i < what.length; i++) {
                out.printf(Locale.ROOT, "%s.raw.%s %.3f ratio%n", p, what[i], r.raw()[h][i]);
                out.printf(Locale.ROOT, "%s.calibrated.%s %.3f ratio%n", p, what[i], r.calibrated()[h][i]);
            }
        }
        out.printf(Locale.ROOT, "feedback.%s.matured_calibration.first_hour %d count%n", mode, r.firstHour());
    }

    /**
     * What the conversion heads' hourly errors follow: per mode and conversion head, the standard
     * deviation over the scored hours after the first of the truth ratio (predictions over the hidden
     * probabilities), and its correlation with the noise of the conversions that arrive in the hour
     * (the positives an early mode trains on then, of impressions hours before) and with the noise of
     * the final labels of the hour's own impressions (what the hour's calibration is measured
     * against); and the correlation of the truth ratios of the two halves of the items (index even or
     * odd, launched alternately): near 1 when the hour's error is the model's overall level, which
     * every item shares, near 0 when it is each item's own. A noise is the hour's count over its
     * expectation: the arrivals' over their mean in the 12 hours around it, the labels' over the
     * hidden probabilities' sum.
     */
    private void printArrivals(Impression[] imps, Result truth, java.util.Map<String, Result> results) {
        long scoredFrom = START + warmupDays * DriftingSimulator.DAY;
        int hours = days * 24;
        double[] arrivals =
                Arrays.copyOfRange(overNeighbours(conversionsArriving(imps, scoredFrom, hours), 6), 1, hours);
        StandardDeviation sd = new StandardDeviation(false);
        PearsonsCorrelation correlation = new PearsonsCorrelation();
        out.printf(Locale.ROOT, "feedback.conversion_arrivals_hourly_sd %.4f ratio%n", sd.evaluate(arrivals));
        // Per conversion head, the same for every mode: the hour's labels over the hidden probabilities.
        double[][] labelsNoise = new double[HEADS.length][hours - 1];
        for (int h = 1; h < HEADS.length; h++) {
            for (int hour = 1; hour < hours; hour++) {
                labelsNoise[h][hour - 1] = 1 / truth.hourly[h][hour];
            }
        }
        for (var e : results.entrySet()) {
            for (int h = 1; h < HEADS.length; h++) {
                double[] ratio = Arrays.copyOfRange(e.getValue().truthRatioHourly[h], 1, hours);
                String p = "feedback." + e.getKey() + "." + HEADS[h];
                out.printf(Locale.ROOT, "%s.truth_ratio_hourly_sd %.4f ratio%n", p, sd.evaluate(ratio));
                out.printf(
                        Locale.ROOT,
                        "%s.truth_ratio_arrivals_correlation %.2f ratio%n",
                        p,
                        correlation.correlation(ratio, arrivals));
                out.printf(
                        Locale.ROOT,
                        "%s.truth_ratio_labels_correlation %.2f ratio%n",
                        p,
                        correlation.correlation(ratio, labelsNoise[h]));
                double[][] halves = e.getValue().truthRatioHalves[h];
                out.printf(
                        Locale.ROOT,
                        "%s.truth_ratio_item_halves_correlation %.2f ratio%n",
                        p,
                        correlation.correlation(
                                Arrays.copyOfRange(halves[0], 1, hours), Arrays.copyOfRange(halves[1], 1, hours)));
            }
        }
    }

    /**
     * Per hour from {@code from}, the conversions within their windows (as the labels) whose event
     * time falls in it, of impressions of any hour: the positives an early mode trains on then.
     */
    static double[] conversionsArriving(Impression[] imps, long from, int hours) {
        double[] arrived = new double[hours];
        for (Impression im : imps) {
            long at = converted(im) ? im.conversionTs() - from : -1;
            if (at >= 0 && at < hours * DriftingSimulator.HOUR) {
                arrived[(int) (at / DriftingSimulator.HOUR)]++;
            }
        }
        return arrived;
    }

    /**
     * Each of {@code counts} over the mean of the {@code reach} on either side of it (fewer at the
     * ends): an hour's count over what the hours around it expect.
     */
    static double[] overNeighbours(double[] counts, int reach) {
        double[] r = new double[counts.length];
        for (int i = 0; i < counts.length; i++) {
            double around = 0;
            int n = 0;
            for (int k = Math.max(0, i - reach); k <= Math.min(counts.length - 1, i + reach); k++) {
                if (k != i) {
                    around += counts[k];
                    n++;
                }
            }
            r[i] = counts[i] / (around / n);
        }
        return r;
    }

    /** The simulated impressions of {@code days} days of {@code perDay}, in event-time order, from {@link #START}. */
    static Impression[] impressions(int days, int perDay) {
        return impressions(simulator(days), days, perDay);
    }

    /** The impressions of {@code days} days of {@code perDay} that {@code sim} shows, in event-time order. */
    private static Impression[] impressions(DriftingSimulator sim, int days, int perDay) {
        int n = days * perDay;
        Impression[] imps = new Impression[n];
        for (int k = 0; k < n; k++) {
            imps[k] = sim.next(k, START + (long) ((double) k / n * days * DriftingSimulator.DAY));
        }
        return imps;
    }

    /** The simulator of {@link #impressions} over {@code days}, its drift and items' spread as the properties set. */
    static DriftingSimulator simulator(int days) {
        return new DriftingSimulator(7, 20_000, 20_000, START, days, drift(), itemCvrSd());
    }

    /** The drift's amplitude, to tell what the drift costs (README, Fresh labels); the default unless set. */
    private static double drift() {
        return number(DRIFT, DriftingSimulator.DRIFT);
    }

    private static double itemCvrSd() {
        return number(ITEM_CVR_SD, DriftingSimulator.ITEM_CVR_SD);
    }

    /** Per head of {@code r}: AUC, log-loss, calibration and its hourly range, named {@code prefix.<head>.*}. */
    static void printHeads(PrintStream out, String prefix, Result r) {
        for (int h = 0; h < HEADS.length; h++) {
            String p = prefix + "." + HEADS[h];
            out.printf(Locale.ROOT, "%s.auc %.4f ratio%n", p, r.auc[h]);
            out.printf(Locale.ROOT, "%s.logloss %.4f nats%n", p, r.logLoss[h]);
            out.printf(Locale.ROOT, "%s.calibration %.3f ratio%n", p, r.calibration[h]);
            out.printf(Locale.ROOT, "%s.calibration_hourly_min %.3f ratio%n", p, r.minHourCalibration[h]);
            out.printf(Locale.ROOT, "%s.calibration_hourly_max %.3f ratio%n", p, r.maxHourCalibration[h]);
            if (!Double.isNaN(r.minHourTruthCalibration[h])) {
                out.printf(Locale.ROOT, "%s.truth_ratio_hourly_min %.3f ratio%n", p, r.minHourTruthCalibration[h]);
                out.printf(Locale.ROOT, "%s.truth_ratio_hourly_max %.3f ratio%n", p, r.maxHourTruthCalibration[h]);
                for (int a = 0; a < AGE_BOUNDS.length - 1; a++) {
                    out.printf(
                            Locale.ROOT,
                            "%s.truth_ratio_item_age_%s %.3f ratio%n",
                            p,
                            AGE_BOUNDS[a + 1] == Long.MAX_VALUE
                                    ? AGE_BOUNDS[a] + "h_up"
                                    : AGE_BOUNDS[a] + "_" + AGE_BOUNDS[a + 1] + "h",
                            r.truthRatioByAge[h][a]);
                }
            }
            if (flag(HOURLY)) {
                for (int hour = 1; hour < r.hourly[h].length; hour++) {
                    out.printf(Locale.ROOT, "%s.hour%d.calibration %.3f ratio%n", p, hour, r.hourly[h][hour]);
                    out.printf(Locale.ROOT, "%s.hour%d.truth_ratio %.4f ratio%n", p, hour, r.truthRatioHourly[h][hour]);
                }
            }
        }
    }

    /**
     * The spec each mode trains: es-dfm's, and defer's at an observation window above 0, with the
     * delay heads of the conversion and the click.
     */
    static ModelSpec specFor(ModelSpec spec, Feedback feedback, long observationWindow) {
        return feedback == Feedback.ES_DFM || feedback == Feedback.DEFER && observationWindow > 0
                ? spec.withDelayHeads(org.mmoestream.model.TaskSpec.CONVERSION)
                        .withDelayHeads(org.mmoestream.model.TaskSpec.CLICK)
                : spec;
    }

    /**
     * {@code join.observation-window} of a mode: es-dfm's elapsed window c, fnw-matched's 0 (the only
     * one it runs at), else {@code observation}.
     */
    static long observationWindow(Feedback feedback, long observation, long elapsed) {
        return feedback == Feedback.ES_DFM ? elapsed : feedback == Feedback.FNW_MATCHED ? 0 : observation;
    }

    /**
     * {@code p} (per head and row) with ESMM's ctcvr set to the product of the served ctr and cvr, as
     * a model whose towers' output biases carry an offset serves it.
     */
    static double[][] esmmProduct(double[][] p, ModelSpec spec, int[] heads) {
        if (spec.esmmClickTask() >= 0 && heads[2] >= 0) {
            for (int r = 0; r < p[heads[2]].length; r++) {
                p[heads[2]][r] = p[heads[0]][r] * p[heads[1]][r];
            }
        }
        return p;
    }

    /** The indexes of the heads {@link #HEADS} in {@code spec}'s predictions (-1: ctcvr without ESMM). */
    static int[] heads(ModelSpec spec) {
        int[] heads = new int[HEADS.length];
        for (int h = 0; h < heads.length; h++) {
            heads[h] = spec.heads().indexOf(HEADS[h]);
        }
        return heads;
    }

    /** Events of one request in event-time order: its impression, click and conversion. */
    private record Timed(long ts, int index, byte type) {}

    private Result run(ModelSpec spec, Impression[] imps, String mode) {
        Feedback feedback = mode.equals("oracle") ? Feedback.WAIT : Feedback.parse(mode);
        long window = observationWindow(feedback, observationWindow, elapsedWindow);
        spec = specFor(spec, feedback, window);
        // The job's start checks on the spec, so a mode runs here only as the job would run it.
        org.mmoestream.job.PipelineJob.requireDelayHeads(feedback, window, spec);
        spec = org.mmoestream.job.PipelineJob.trainedSpec(feedback, spec);
        MmoeModel model = MmoeModel.create(spec, 42, DataType.FLOAT);
        model.useFeedbackWeights(org.mmoestream.job.PipelineJob.feedbackWeights(feedback));
        int[] heads = heads(spec);
        ModelSpec servedSpec = spec;
        ExampleEncoder encoder = new ExampleEncoder(spec);
        AttributionPolicy policy = new AttributionPolicy(
                CLICK_WINDOW, CONVERSION_WINDOW, 5 * DriftingSimulator.MINUTE, 0, true, feedback, window);
        int n = imps.length;
        PriorityQueue<Timed> events = new PriorityQueue<>((a, b) -> a.ts != b.ts
                ? Long.compare(a.ts, b.ts)
                : a.type != b.type ? Byte.compare(a.type, b.type) : Integer.compare(a.index, b.index));
        for (int k = 0; k < n; k++) {
            Impression im = imps[k];
            events.add(new Timed(im.ts(), k, Event.IMPRESSION));
            if (im.clickTs() >= 0) {
                events.add(new Timed(im.clickTs(), k, Event.CLICK));
                if (im.conversionTs() >= 0) {
                    events.add(new Timed(im.conversionTs(), k, Event.CONVERSION));
                }
            }
        }
        JoinState[] states = new JoinState[n];
        long[] pending = new long[3]; // live states; their sum and count of samples at scored impressions
        PriorityQueue<long[]> timers = new PriorityQueue<>((a, b) -> Long.compare(a[0], b[0]));
        long[] firstSent = new long[n];
        Arrays.fill(firstSent, Long.MIN_VALUE);
        List<EncodedExample> buffer = new ArrayList<>();
        List<Integer> toScore = new ArrayList<>();
        Metrics metrics = new Metrics(days * 24);
        if (maturedCalibration || delayedCalibrationHours.length > 0) {
            metrics.served = new float[HEADS.length][n];
            for (float[] f : metrics.served) {
                Arrays.fill(f, Float.NaN);
            }
        }
        long scoredFrom = START + warmupDays * DriftingSimulator.DAY;
        long[] trained = {0};
        long[] now = {0};
        int batch = 256;
        // As the job's trainer, whose batches the clock cuts too.
        model.scalePartialBatches(batch);
        ServingAverage average =
                servingAverageSteps > 0 ? new ServingAverage(model.network().paramAccess(), servingAverageSteps) : null;
        LevelFilter level = levelHours > 0
                ? new LevelFilter(
                        rows -> model.predict(Batch.of(rows)),
                        LEVEL_PERIOD,
                        Math.round(levelHours * DriftingSimulator.HOUR),
                        LEVEL_PROBE,
                        Math.round(levelProbeAgeHours * DriftingSimulator.HOUR))
                : null;
        Runnable scoring = () -> score(
                model,
                encoder,
                imps,
                toScore,
                metrics,
                heads,
                scoredFrom,
                level == null ? p -> p : p -> esmmProduct(level.serve(p), servedSpec, heads));
        Runnable step = () -> {
            if (level != null) {
                level.at(now[0]);
            }
            if (average == null) {
                scoring.run();
            } else {
                average.serve(scoring);
            }
            if (!buffer.isEmpty()) {
                model.trainStep(Batch.of(buffer));
                trained[0] += buffer.size();
                if (level != null) {
                    level.trained(buffer);
                }
                buffer.clear();
                if (average != null) {
                    average.update();
                }
            }
        };
        java.util.function.IntFunction<java.util.function.Consumer<LabeledExample>> emitter = k -> ex -> {
            boolean clickNews = ex.clickNews();
            boolean conversionNews = ex.conversionNews();
            buffer.add(encoder.encodeFeatures(
                    imps[k].featuresJson(),
                    encoder.labels(ex.click, ex.conversion, Double.NaN, clickNews, conversionNews, ex.delayLabels())));
            if (firstSent[k] == Long.MIN_VALUE) {
                firstSent[k] = now[0];
            }
            if (buffer.size() == batch) {
                step.run();
            }
        };
        while (!events.isEmpty()) {
            Timed e = events.poll();
            // Timers fire once the watermark (here: the events' time, in order) has passed them.
            pending[0] -= fireTimers(e.ts, timers, states, policy, emitter, now);
            now[0] = e.ts;
            Impression im = imps[e.index];
            if (e.type == Event.IMPRESSION && e.ts >= scoredFrom) {
                toScore.add(e.index);
                pending[1] += pending[0];
                pending[2]++;
            }
            if (mode.equals("oracle")) {
                if (e.type == Event.IMPRESSION) {
                    int click = clicked(im) ? 1 : 0;
                    int conversion = converted(im) ? 1 : 0;
                    LabeledExample ex = new LabeledExample();
                    ex.click = click;
                    ex.conversion = conversion;
                    emitter.apply(e.index).accept(ex);
                }
                continue;
            }
            Event ev = switch (e.type) {
                case Event.IMPRESSION -> Event.impression(im.requestId(), e.ts, "m", im.featuresJson());
                case Event.CLICK -> Event.click(im.requestId(), e.ts, null);
                default -> Event.conversion(im.requestId(), e.ts, Double.NaN);
            };
            JoinState s = states[e.index];
            if (s == null) {
                s = new JoinState();
                states[e.index] = s;
                pending[0]++;
            }
            long before = s.deadline;
            policy.onEvent(s, ev, JoinListener.IGNORE, emitter.apply(e.index));
            pending[0] -= reschedule(states, timers, e.index, before);
        }
        pending[0] -= fireTimers(Long.MAX_VALUE, timers, states, policy, emitter, now);
        pendingRequests = (double) pending[1] / Math.max(1, pending[2]);
        step.run();
        long[] latency = new long[n];
        int m = 0;
        for (int k = 0; k < n; k++) {
            if (firstSent[k] != Long.MIN_VALUE) {
                latency[m++] = firstSent[k] - imps[k].ts();
            }
        }
        Arrays.sort(latency, 0, m);
        if (maturedCalibration) {
            printMaturedCalibration(
                    mode,
                    new MaturedCalibration(imps, metrics.served, scoredFrom, DriftingSimulator.DAY).ranges(days * 24));
        }
        for (int hoursBack : delayedCalibrationHours) {
            printDelayedCalibration(
                    mode,
                    hoursBack,
                    new DelayedCalibration(imps, metrics.served[1], scoredFrom, hoursBack * DriftingSimulator.HOUR)
                            .ranges(days * 24));
        }
        return metrics.result(latency[(int) (0.5 * (m - 1))], latency[(int) (0.99 * (m - 1))], trained[0], false);
    }

    /**
     * Fires, in deadline order, the timers due before {@code limit} (event time), setting {@code now};
     * returns how many states it cleared.
     */
    private static int fireTimers(
            long limit,
            PriorityQueue<long[]> timers,
            JoinState[] states,
            AttributionPolicy policy,
            java.util.function.IntFunction<java.util.function.Consumer<LabeledExample>> emitter,
            long[] now) {
        int cleared = 0;
        while (!timers.isEmpty() && timers.peek()[0] < limit) {
            long[] t = timers.poll();
            int k = (int) t[1];
            JoinState s = states[k];
            if (s == null || s.deadline != t[0]) {
                continue;
            }
            now[0] = t[0];
            policy.onTimer(s, t[0], JoinListener.IGNORE, emitter.apply(k));
            cleared += reschedule(states, timers, k, t[0]);
        }
        return cleared;
    }

    /** Moves the timer of state {@code k} to its deadline; returns 1 if it cleared the state, else 0. */
    private static int reschedule(JoinState[] states, PriorityQueue<long[]> timers, int k, long before) {
        JoinState s = states[k];
        if (s.deadline == JoinState.NONE) {
            states[k] = null;
            return 1;
        } else if (s.deadline != before) {
            timers.add(new long[] {s.deadline, k});
        }
        return 0;
    }

    static boolean clicked(Impression im) {
        return im.clickTs() >= 0 && im.clickTs() - im.ts() <= CLICK_WINDOW;
    }

    static boolean converted(Impression im) {
        return clicked(im) && im.conversionTs() >= 0 && im.conversionTs() - im.clickTs() <= CONVERSION_WINDOW;
    }

    /**
     * Scores the impressions of {@code toScore} with the model as it is now, in slices of 4,096 (a
     * long stretch between two versions of the pipeline's model fits in memory), and clears it;
     * serves {@code serve} of the model's predictions (per head and row).
     */
    static void score(
            MmoeModel model,
            ExampleEncoder encoder,
            Impression[] imps,
            List<Integer> toScore,
            Metrics m,
            int[] heads,
            long scoredFrom,
            java.util.function.UnaryOperator<double[][]> serve) {
        for (int from = 0; from < toScore.size(); from += 4096) {
            List<Integer> slice = toScore.subList(from, Math.min(toScore.size(), from + 4096));
            List<EncodedExample> rows = new ArrayList<>(slice.size());
            for (int k : slice) {
                rows.add(encoder.encodeFeatures(imps[k].featuresJson(), null));
            }
            addScores(serve.apply(model.predict(Batch.of(rows))), imps, slice, m, heads, scoredFrom);
        }
        toScore.clear();
    }

    /** Adds the predictions {@code p} of the impressions {@code slice} to {@code m}, per head and hour. */
    private static void addScores(
            double[][] p, Impression[] imps, List<Integer> slice, Metrics m, int[] heads, long scoredFrom) {
        for (int r = 0; r < slice.size(); r++) {
            // Without ESMM the served pCTCVR is the product of the two heads.
            double ctcvr = heads[2] >= 0 ? p[heads[2]][r] : p[heads[0]][r] * p[heads[1]][r];
            add(m, imps[slice.get(r)], scoredFrom, p[heads[0]][r], p[heads[1]][r], ctcvr);
            if (m.served != null) {
                m.served[0][slice.get(r)] = (float) p[heads[0]][r];
                m.served[1][slice.get(r)] = (float) p[heads[1]][r];
                m.served[2][slice.get(r)] = (float) ctcvr;
            }
        }
    }

    /** Adds the predictions of impression {@code im} to {@code m}, each head against its final label. */
    static void add(Metrics m, Impression im, long scoredFrom, double ctr, double cvr, double ctcvr) {
        int hour = (int) ((im.ts() - scoredFrom) / DriftingSimulator.HOUR);
        boolean click = clicked(im);
        boolean conversion = converted(im);
        double trueCtr = DriftingSimulator.clickedWithin(im, CLICK_WINDOW);
        double trueCvr = DriftingSimulator.convertedWithin(im, CONVERSION_WINDOW);
        int age = ageBucket(im.itemAge());
        int half = im.item() & 1;
        m.add(0, hour, age, half, ctr, click, trueCtr);
        if (click) {
            m.add(1, hour, age, half, cvr, conversion, trueCvr);
        }
        m.add(2, hour, age, half, ctcvr, conversion, trueCtr * trueCvr);
    }

    /** Bounds of the item-age buckets of the truth ratio, in hours. */
    static final long[] AGE_BOUNDS = {0, 4, 8, 16, 32, Long.MAX_VALUE};

    /** The bucket of {@link #AGE_BOUNDS} that an item's age (milliseconds) falls in. */
    static int ageBucket(long itemAge) {
        int a = 0;
        while (a < AGE_BOUNDS.length - 2 && itemAge >= AGE_BOUNDS[a + 1] * DriftingSimulator.HOUR) {
            a++;
        }
        return a;
    }

    /**
     * The {@link DelayedIdeal} learner's conversion predictions on the scored days of {@code sim}'s
     * impressions {@code imps}, with the hidden click probabilities (the ideal learner knows them;
     * ctcvr is their product).
     */
    private Result delayedIdeal(DriftingSimulator sim, Impression[] imps) {
        long scoredFrom = START + warmupDays * DriftingSimulator.DAY;
        double[] cvr = new DelayedIdeal(sim, itemCvrSd()).predict(imps, scoredFrom);
        Metrics m = new Metrics(days * 24);
        for (int k = 0; k < imps.length; k++) {
            if (imps[k].ts() >= scoredFrom) {
                double ctr = DriftingSimulator.clickedWithin(imps[k], CLICK_WINDOW);
                add(m, imps[k], scoredFrom, ctr, cvr[k], ctr * cvr[k]);
            }
        }
        return m.result(0, 0, 0, false);
    }

    /**
     * The simulator's hidden probabilities served as predictions, on the scored days: no model can do
     * better, and their hourly calibration against the final labels is the labels' own noise, the
     * floor of any mode's hourly range.
     */
    private Result truth(Impression[] imps) {
        Metrics m = new Metrics(days * 24);
        long scoredFrom = START + warmupDays * DriftingSimulator.DAY;
        for (Impression im : imps) {
            if (im.ts() >= scoredFrom) {
                double ctr = DriftingSimulator.clickedWithin(im, CLICK_WINDOW);
                double cvr = DriftingSimulator.convertedWithin(im, CONVERSION_WINDOW);
                add(m, im, scoredFrom, ctr, cvr, ctr * cvr);
            }
        }
        return m.result(0, 0, 0, true);
    }

    /**
     * Serving-time metrics per head over the scored hours after the first: overall and per hour, the
     * hourly calibration against the final labels and, without their noise, against the simulator's
     * hidden probabilities of the same impressions (the truth ratio: the predictions' sum over the
     * hidden probabilities' sum).
     */
    static final class Metrics {
        final TaskMetrics[] overall = new TaskMetrics[HEADS.length];
        final double[][] sumP;
        final double[][] sumY;
        final double[][] sumTruth;
        /** Per head and item-age bucket ({@link #AGE_BOUNDS}), over the hours after the first. */
        final double[][] sumPByAge;

        final double[][] sumTruthByAge;
        /** Per head, item half (the item's index even or odd) and hour: predictions and hidden probabilities. */
        final double[][][] sumPByHalf;

        final double[][][] sumTruthByHalf;
        /** Per head, the served prediction of each impression (NaN: not scored); null unless kept. */
        float[][] served;

        Metrics(int hours) {
            for (int h = 0; h < HEADS.length; h++) {
                overall[h] = new TaskMetrics();
            }
            sumP = new double[HEADS.length][hours + 1];
            sumY = new double[HEADS.length][hours + 1];
            sumTruth = new double[HEADS.length][hours + 1];
            sumPByAge = new double[HEADS.length][AGE_BOUNDS.length - 1];
            sumTruthByAge = new double[HEADS.length][AGE_BOUNDS.length - 1];
            sumPByHalf = new double[HEADS.length][2][hours + 1];
            sumTruthByHalf = new double[HEADS.length][2][hours + 1];
        }

        void add(int head, int hour, int ageBucket, int half, double p, boolean positive, double truth) {
            if (hour >= 1) {
                overall[head].add(p, positive);
                sumPByAge[head][ageBucket] += p;
                sumTruthByAge[head][ageBucket] += truth;
            }
            sumP[head][hour] += p;
            sumY[head][hour] += positive ? 1 : 0;
            sumTruth[head][hour] += truth;
            sumPByHalf[head][half][hour] += p;
            sumTruthByHalf[head][half][hour] += truth;
        }

        /** The figures; {@code truth}: the predictions are the hidden probabilities (no truth ratio). */
        Result result(long p50, long p99, long examples, boolean truth) {
            int heads = HEADS.length;
            double[] auc = new double[heads];
            double[] ll = new double[heads];
            double[] cal = new double[heads];
            double[] min = new double[heads];
            double[] max = new double[heads];
            double[] minTruth = new double[heads];
            double[] maxTruth = new double[heads];
            double[][] hourly = new double[heads][];
            double[][] truthHourly = new double[heads][];
            double[][][] truthHalves = new double[heads][2][];
            double[][] byAge = new double[heads][];
            for (int h = 0; h < heads; h++) {
                auc[h] = overall[h].auc();
                ll[h] = overall[h].logLoss();
                cal[h] = overall[h].calibration();
                hourly[h] = ratios(sumP[h], sumY[h]);
                double[] range = range(hourly[h], 1);
                min[h] = range[0];
                max[h] = range[1];
                truthHourly[h] = ratios(sumP[h], sumTruth[h]);
                for (int half = 0; half < 2; half++) {
                    truthHalves[h][half] = ratios(sumPByHalf[h][half], sumTruthByHalf[h][half]);
                }
                double[] truthRange = truth ? new double[] {Double.NaN, Double.NaN} : range(truthHourly[h], 1);
                byAge[h] = ratios(sumPByAge[h], sumTruthByAge[h]);
                minTruth[h] = truthRange[0];
                maxTruth[h] = truthRange[1];
            }
            return new Result(
                    auc,
                    ll,
                    cal,
                    min,
                    max,
                    minTruth,
                    maxTruth,
                    hourly,
                    truthHourly,
                    truthHalves,
                    byAge,
                    p50,
                    p99,
                    examples);
        }

        /** Per hour {@code num / den} (NaN where {@code den} is 0). */
        private static double[] ratios(double[] num, double[] den) {
            double[] r = new double[num.length];
            for (int hour = 0; hour < r.length; hour++) {
                r[hour] = den[hour] > 0 ? num[hour] / den[hour] : Double.NaN;
            }
            return r;
        }

        /** The lowest and highest of {@code ratios} from hour {@code first} on. */
        private static double[] range(double[] ratios, int first) {
            double min = Double.MAX_VALUE;
            double max = -Double.MAX_VALUE;
            for (int hour = first; hour < ratios.length; hour++) {
                if (!Double.isNaN(ratios[hour])) {
                    min = Math.min(min, ratios[hour]);
                    max = Math.max(max, ratios[hour]);
                }
            }
            return new double[] {min, max};
        }
    }
}
