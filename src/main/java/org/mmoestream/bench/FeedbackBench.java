package org.mmoestream.bench;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.mmoestream.bench.FeedbackMetrics.Result;
import org.mmoestream.join.AttributionPolicy;
import org.mmoestream.join.Feedback;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.SpecLoader;
import org.mmoestream.simulate.DriftingSimulator;
import org.mmoestream.simulate.DriftingSimulator.Impression;

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
    /** The experiments (README, Fresh labels), read when the bench is made. */
    private final FeedbackExperiments experiments;

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
        experiments = FeedbackExperiments.read();
    }

    public void run(List<String> modes) {
        run(SpecLoader.load(Path.of("examples/ctr-cvr.yaml")), modes);
    }

    /** Every mode of {@code modes} on the same simulated days with {@code spec} (tasks ctr and cvr). */
    public void run(ModelSpec spec, List<String> modes) {
        // Before the impressions are made, as the experiments' other checks.
        experiments.levelHeldTable(spec);
        DriftingSimulator sim = experiments.simulator(warmupDays + days);
        Impression[] imps = impressions(sim, warmupDays + days, perDay);
        int n = imps.length;
        out.printf(Locale.ROOT, "feedback.impressions %d count%n", n);
        out.printf(Locale.ROOT, "feedback.impressions_scored %d count%n", n - (long) warmupDays * perDay);
        boolean hourly = experiments.hourly();
        Result truth = truth(imps);
        FeedbackMetrics.printHeads(out, "feedback.truth", truth, hourly);
        Map<String, Result> results = new LinkedHashMap<>();
        if (experiments.delayedIdeal()) {
            Result ideal = delayedIdeal(new DelayedIdeal(sim, experiments.itemCvrSd()), imps);
            FeedbackMetrics.printHeads(out, "feedback.delayed-ideal", ideal, hourly);
            results.put("delayed-ideal", ideal);
        }
        for (int hours : experiments.delayedIdealMemoryHours()) {
            String name = "delayed-ideal-" + hours + "h";
            DelayedIdeal learner = new DelayedIdeal(sim, experiments.itemCvrSpread(), hours * DriftingSimulator.HOUR);
            Result r = delayedIdeal(learner, imps);
            FeedbackMetrics.printHeads(out, "feedback." + name, r, hourly);
            results.put(name, r);
        }
        for (String mode : modes) {
            long t0 = System.nanoTime();
            FeedbackReplay replay =
                    new FeedbackReplay(experiments, warmupDays, days, observationWindow, elapsedWindow, out);
            Result r = replay.run(spec, imps, mode);
            boolean oracle = mode.equals("oracle");
            // The late oracle is an experiment, not the oracle the gap is measured against.
            String name = oracle && experiments.lateOracle() ? "oracle-late" : mode;
            results.put(name, r);
            FeedbackMetrics.printHeads(out, "feedback." + name, r, hourly);
            out.printf(Locale.ROOT, "feedback.%s.label_latency_p50 %.1f s%n", name, r.latencyP50() / 1000.0);
            out.printf(Locale.ROOT, "feedback.%s.label_latency_p99 %.1f s%n", name, r.latencyP99() / 1000.0);
            out.printf(Locale.ROOT, "feedback.%s.examples_trained %d count%n", name, r.examples());
            if (!oracle) {
                out.printf(
                        Locale.ROOT, "feedback.%s.join_pending_requests %.0f count%n", mode, replay.pendingRequests());
            }
            if (!Double.isNaN(replay.servingAverageHours())) {
                out.printf(
                        Locale.ROOT, "feedback.%s.serving_average_hours %.2f h%n", name, replay.servingAverageHours());
            }
            out.printf(Locale.ROOT, "feedback.%s.seconds %.1f s%n", name, (System.nanoTime() - t0) / 1e9);
        }
        ArrivalNoise.print(out, imps, START + warmupDays * DriftingSimulator.DAY, days * 24, truth, results);
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
                    double gap = oracle.auc()[h] - wait.auc()[h];
                    out.printf(
                            Locale.ROOT,
                            "feedback.%s.%s.gap_closed %.2f ratio%n",
                            e.getKey(),
                            HEADS[h],
                            (e.getValue().auc()[h] - wait.auc()[h]) / gap);
                }
            }
        }
    }

    /**
     * The simulated impressions of {@code days} days of {@code perDay}, in event-time order, from
     * {@link #START}, of the simulator {@code experiments} set.
     */
    static Impression[] impressions(int days, int perDay, FeedbackExperiments experiments) {
        return impressions(experiments.simulator(days), days, perDay);
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

    static boolean clicked(Impression im) {
        return im.clickTs() >= 0 && im.clickTs() - im.ts() <= CLICK_WINDOW;
    }

    static boolean converted(Impression im) {
        return clicked(im) && im.conversionTs() >= 0 && im.conversionTs() - im.clickTs() <= CONVERSION_WINDOW;
    }

    /**
     * The conversion predictions of {@code learner} on the scored days of the impressions {@code
     * imps}, with the hidden click probabilities (the ideal learner knows them; ctcvr is their product).
     */
    private Result delayedIdeal(DelayedIdeal learner, Impression[] imps) {
        long scoredFrom = START + warmupDays * DriftingSimulator.DAY;
        double[] cvr = learner.predict(imps, scoredFrom);
        FeedbackMetrics m = new FeedbackMetrics(days * 24);
        for (int k = 0; k < imps.length; k++) {
            if (imps[k].ts() >= scoredFrom) {
                double ctr = DriftingSimulator.clickedWithin(imps[k], CLICK_WINDOW);
                m.add(imps[k], scoredFrom, ctr, cvr[k], ctr * cvr[k]);
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
        FeedbackMetrics m = new FeedbackMetrics(days * 24);
        long scoredFrom = START + warmupDays * DriftingSimulator.DAY;
        for (Impression im : imps) {
            if (im.ts() >= scoredFrom) {
                double ctr = DriftingSimulator.clickedWithin(im, CLICK_WINDOW);
                double cvr = DriftingSimulator.convertedWithin(im, CONVERSION_WINDOW);
                m.add(im, scoredFrom, ctr, cvr, ctr * cvr);
            }
        }
        return m.result(0, 0, 0, true);
    }
}
