package org.mmoestream.bench;

import static org.mmoestream.bench.FeedbackBench.CLICK_WINDOW;
import static org.mmoestream.bench.FeedbackBench.CONVERSION_WINDOW;
import static org.mmoestream.bench.FeedbackBench.HEADS;
import static org.mmoestream.bench.FeedbackBench.START;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.PriorityQueue;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.IntFunction;
import java.util.function.UnaryOperator;
import org.mmoestream.bench.FeedbackMetrics.Result;
import org.mmoestream.event.Event;
import org.mmoestream.event.LabeledExample;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.job.PipelineJob;
import org.mmoestream.join.AttributionPolicy;
import org.mmoestream.join.Feedback;
import org.mmoestream.join.JoinListener;
import org.mmoestream.join.JoinState;
import org.mmoestream.join.RecentDelays;
import org.mmoestream.model.Batch;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.ServingAverage;
import org.mmoestream.simulate.DriftingSimulator;
import org.mmoestream.simulate.DriftingSimulator.Impression;
import org.mmoestream.train.ServingSpan;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * One mode of {@code bench feedback} ({@link FeedbackBench}) on the simulated days: the requests'
 * events in event-time order through the label join's policy ({@link AttributionPolicy}, its timers
 * fired when the events' time passes their deadlines, as the watermark would), the examples it sends
 * trained in batches of 256 by the model core, and each impression of the scored days scored when
 * it happens by the model as trained up to then.
 */
final class FeedbackReplay {
    private final FeedbackExperiments experiments;
    private final int warmupDays;
    private final int days;
    private final long observationWindow;
    private final long elapsedWindow;
    private final PrintStream out;
    /** The join states (requests pending) on average over the scored impressions' arrivals. */
    private double pendingRequests;
    /**
     * The event time the serving average spanned at the last run's last impression (NaN without
     * one), before the windows' tail.
     */
    private double spanHours = Double.NaN;

    FeedbackReplay(
            FeedbackExperiments experiments,
            int warmupDays,
            int days,
            long observationWindow,
            long elapsedWindow,
            PrintStream out) {
        this.experiments = experiments;
        this.warmupDays = warmupDays;
        this.days = days;
        this.observationWindow = observationWindow;
        this.elapsedWindow = elapsedWindow;
        this.out = out;
    }

    /** The join states (requests pending) on average over the scored impressions' arrivals of the last run. */
    double pendingRequests() {
        return pendingRequests;
    }

    /**
     * Hours of event time the last run's serving average spanned at its last impression ({@link
     * ServingSpan}; the steps after it, as the last windows close, come slower); NaN without one.
     */
    double servingAverageHours() {
        return spanHours;
    }

    /** Events of one request in event-time order: its impression, click and conversion. */
    private record Timed(long ts, int index, byte type) {}

    /**
     * Streams {@code imps} through the join's policy of {@code mode} (or, for {@code oracle}, each
     * impression at once with its final labels) and the training step, scoring each impression of the
     * scored days when it happens; prints the calibration experiments' figures.
     */
    Result run(ModelSpec spec, Impression[] imps, String mode) {
        Feedback feedback = mode.equals("oracle") ? Feedback.WAIT : Feedback.parse(mode);
        long window = FeedbackBench.observationWindow(feedback, observationWindow, elapsedWindow);
        spec = FeedbackBench.specFor(spec, feedback, window);
        // The job's start checks on the spec, so a mode runs here only as the job would run it.
        PipelineJob.requireDelayHeads(feedback, window, spec);
        if (!mode.equals("oracle")) {
            PipelineJob.requireElapsedFeatures(feedback, spec);
        }
        spec = PipelineJob.trainedSpec(feedback, spec);
        if (experiments.servingAverageSteps() > 0) {
            spec = spec.withOptimizer(spec.optimizer().withServingAverage(experiments.servingAverageSteps()));
        }
        MmoeModel model = MmoeModel.create(spec, 42, DataType.FLOAT);
        // A history trained offline (the experiments' warm-up) has no fake negatives to weigh.
        FeedbackExperiments.Warmup warmup = experiments.warmup();
        boolean history = warmup != FeedbackExperiments.Warmup.STREAM && !mode.equals("oracle") && warmupDays > 0;
        model.useFeedbackWeights(PipelineJob.feedbackWeights(history ? Feedback.WAIT : feedback));
        // Each impression is scored as the job would publish the model (the spec's serving average).
        model.useServingAverage();
        int[] heads = FeedbackBench.heads(spec);
        ModelSpec servedSpec = spec;
        ExampleEncoder encoder = new ExampleEncoder(spec);
        AttributionPolicy policy = new AttributionPolicy(
                CLICK_WINDOW, CONVERSION_WINDOW, 5 * DriftingSimulator.MINUTE, 0, true, feedback, window);
        policy.conversionDelaySample(experiments.delaySample());
        if (experiments.delayPriorHours() > 0 && feedback == Feedback.FNW_MATCHED) {
            policy.conversionDelayPrior(Math.round(experiments.delayPriorHours() * DriftingSimulator.HOUR));
        }
        int n = imps.length;
        PriorityQueue<Timed> events = events(imps);
        LateOracle late =
                mode.equals("oracle") && experiments.lateOracle() ? new LateOracle(experiments.delaySample()) : null;
        JoinState[] states = new JoinState[n];
        long[] pending = new long[3]; // live states; their sum and count of samples at scored impressions
        PriorityQueue<long[]> timers = new PriorityQueue<>((a, b) -> Long.compare(a[0], b[0]));
        long[] firstSent = new long[n];
        Arrays.fill(firstSent, Long.MIN_VALUE);
        List<EncodedExample> buffer = new ArrayList<>();
        List<Integer> toScore = new ArrayList<>();
        experiments.requireElapsedFeature(spec);
        FeedbackMetrics metrics = new FeedbackMetrics(days * 24);
        metrics.experiments = experiments;
        if (experiments.keepsServed()) {
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
        ServingAverage average = model.servingAverage();
        ServingSpan span = ServingSpan.of(spec.optimizer());
        LevelFilter level = levelFilter(model, spec);
        RescoredCalibration rescored = rescoredCalibration(model, encoder, imps, heads[1]);
        UnaryOperator<double[][]> served = serving(level, rescored, servedSpec, heads);
        Runnable scoring = () -> metrics.score(model, encoder, imps, toScore, heads, scoredFrom, served);
        ArrivalNormalization normalized = experiments.arrivalNormalizedHours() > 0
                ? new ArrivalNormalization(experiments.arrivalNormalizedHours() * DriftingSimulator.HOUR)
                : null;
        int conversionTask = model.objective().esmmConversionTask();
        if (normalized != null && conversionTask < 0) {
            throw new IllegalArgumentException("the arrival normalization needs ESMM's conversion task");
        }
        Runnable step = () -> {
            if (level != null) {
                level.at(now[0]);
            }
            if (rescored != null) {
                rescored.at(now[0]);
            }
            if (level != null && experiments.levelProbeScored()) {
                int from = Math.max(0, toScore.size() - FeedbackExperiments.LEVEL_PROBE_SIZE);
                level.offer(encoded(encoder, imps, toScore.subList(from, toScore.size())));
            }
            if (average == null) {
                scoring.run();
            } else {
                average.serve(scoring);
            }
            if (!buffer.isEmpty()) {
                if (normalized != null) {
                    model.scaleConversionPositives(normalized.factor(now[0]));
                }
                model.advanceServingAverage(now[0]);
                model.trainStep(Batch.of(buffer));
                span.record(model.step(), now[0]);
                trained[0] += buffer.size();
                if (level != null && !experiments.levelProbeScored()) {
                    level.offer(buffer);
                }
                buffer.clear();
            }
        };
        IntFunction<Consumer<LabeledExample>> emitter = k -> ex -> {
            boolean clickNews = ex.clickNews();
            boolean conversionNews = ex.conversionNews();
            float[] labels =
                    encoder.labels(ex.click, ex.conversion, Double.NaN, clickNews, conversionNews, ex.delayLabels());
            buffer.add(encoder.encodeFeatures(experiments.features(imps[k], now[0]), labels, now[0] - imps[k].ts()));
            if (normalized != null && labels[conversionTask] == 1f) {
                normalized.add(now[0]);
            }
            if (firstSent[k] == Long.MIN_VALUE) {
                firstSent[k] = now[0];
            }
            if (buffer.size() == batch) {
                step.run();
            }
        };
        boolean jobStarted = false;
        while (!events.isEmpty()) {
            Timed e = events.poll();
            // Timers fire once the watermark (here: the events' time, in order) has passed them.
            pending[0] -= fireTimers(e.ts, timers, states, policy, emitter, now);
            if (late != null) {
                late.sendUntil(e.ts, imps, emitter, now);
            }
            now[0] = e.ts;
            Impression im = imps[e.index];
            if (history) {
                if (!jobStarted && e.ts >= scoredFrom) {
                    // The job starts from the history's model: what it trained so far, then the mode's weights.
                    step.run();
                    model.useFeedbackWeights(PipelineJob.feedbackWeights(feedback));
                    jobStarted = true;
                }
                if (im.ts() < scoredFrom) {
                    if (e.type == Event.IMPRESSION) {
                        emitter.apply(e.index).accept(historyLabels(im, warmup, scoredFrom));
                    }
                    continue;
                }
            }
            if (e.type == Event.IMPRESSION) {
                spanHours = span.hours();
            }
            if (e.type == Event.IMPRESSION && e.ts >= scoredFrom) {
                toScore.add(e.index);
                pending[1] += pending[0];
                pending[2]++;
            } else if (e.type == Event.IMPRESSION && experiments.maturedCalibration()) {
                toScore.add(e.index);
            }
            if (mode.equals("oracle")) {
                if (e.type == Event.IMPRESSION) {
                    if (late == null) {
                        emitter.apply(e.index).accept(finalLabels(im));
                    } else {
                        late.add(imps, e.index);
                    }
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
        if (late != null) {
            late.sendUntil(Long.MAX_VALUE, imps, emitter, now);
        }
        pendingRequests = (double) pending[1] / Math.max(1, pending[2]);
        step.run();
        printCalibrations(imps, metrics.served, scoredFrom, mode);
        long[] latency = latencies(imps, firstSent);
        int m = latency.length;
        return metrics.result(latency[(int) (0.5 * (m - 1))], latency[(int) (0.99 * (m - 1))], trained[0], false);
    }

    /** Every event of {@code imps}' requests (impression, click, conversion), in event-time order. */
    private static PriorityQueue<Timed> events(Impression[] imps) {
        PriorityQueue<Timed> events = new PriorityQueue<>((a, b) -> a.ts != b.ts
                ? Long.compare(a.ts, b.ts)
                : a.type != b.type ? Byte.compare(a.type, b.type) : Integer.compare(a.index, b.index));
        for (int k = 0; k < imps.length; k++) {
            Impression im = imps[k];
            events.add(new Timed(im.ts(), k, Event.IMPRESSION));
            if (im.clickTs() >= 0) {
                events.add(new Timed(im.clickTs(), k, Event.CLICK));
                if (im.conversionTs() >= 0) {
                    events.add(new Timed(im.conversionTs(), k, Event.CONVERSION));
                }
            }
        }
        return events;
    }

    /** The {@link LevelFilter} experiment on {@code model}, if it is on; else null. */
    private LevelFilter levelFilter(MmoeModel model, ModelSpec spec) {
        if (experiments.levelHours() == 0) {
            return null;
        }
        Function<List<EncodedExample>, double[][]> predict = rows -> model.predict(Batch.of(rows));
        int held = experiments.levelHeldTable(spec);
        LevelFilter.Measure measure =
                held < 0 ? probe -> predict : LevelFilter.holdingRows(model.embeddings(), held, predict);
        return new LevelFilter(
                measure,
                FeedbackExperiments.LEVEL_PERIOD,
                Math.round(experiments.levelHours() * DriftingSimulator.HOUR),
                FeedbackExperiments.LEVEL_PROBE_SIZE,
                Math.round(experiments.levelProbeAgeHours() * DriftingSimulator.HOUR));
    }

    /** The {@link RescoredCalibration} experiment of {@code model}'s head {@code cvr}, if it is on; else null. */
    private RescoredCalibration rescoredCalibration(
            MmoeModel model, ExampleEncoder encoder, Impression[] imps, int cvr) {
        if (experiments.rescoredCalibrationHours() == 0) {
            return null;
        }
        return new RescoredCalibration(
                imps,
                experiments.rescoredCalibrationHours() * DriftingSimulator.HOUR,
                rows -> model.predict(Batch.of(encoded(encoder, imps, rows)))[cvr]);
    }

    /** The features of the impressions {@code rows} of {@code imps}, without labels. */
    private static List<EncodedExample> encoded(ExampleEncoder encoder, Impression[] imps, List<Integer> rows) {
        List<EncodedExample> encoded = new ArrayList<>(rows.size());
        for (int k : rows) {
            encoded.add(encoder.encodeFeatures(imps[k].featuresJson(), null));
        }
        return encoded;
    }

    /**
     * What is served of the model's predictions (per head and row): as they are, or through the
     * experiments that are on, with ESMM's ctcvr then the product of the served ctr and cvr.
     */
    private static UnaryOperator<double[][]> serving(
            LevelFilter level, RescoredCalibration rescored, ModelSpec spec, int[] heads) {
        if (level == null && rescored == null) {
            return p -> p;
        }
        UnaryOperator<double[][]> serve = level == null ? p -> p : p -> level.serve(p, heads[1]);
        if (rescored != null) {
            serve = serve.andThen(p -> {
                for (int r = 0; r < p[heads[1]].length; r++) {
                    p[heads[1]][r] *= rescored.factor();
                }
                return p;
            })::apply;
        }
        return serve.andThen(p -> FeedbackBench.esmmProduct(p, spec, heads))::apply;
    }

    /** Prints the figures of the calibration experiments that are on, of the predictions {@code served}. */
    private void printCalibrations(Impression[] imps, float[][] served, long scoredFrom, String mode) {
        if (experiments.maturedCalibration()) {
            new MaturedCalibration(imps, served, scoredFrom, DriftingSimulator.DAY)
                    .ranges(days * 24)
                    .print(out, mode);
        }
        for (int hoursBack : experiments.delayedCalibrationHours()) {
            new DelayedCalibration(imps, served[1], scoredFrom, hoursBack * DriftingSimulator.HOUR)
                    .ranges(days * 24)
                    .print(out, mode, hoursBack);
        }
        if (experiments.itemCalibrationHours().length > 0) {
            new ItemCalibration(imps, served, scoredFrom)
                    .print(
                            out,
                            mode,
                            days * 24,
                            experiments.itemCalibrationHours(),
                            experiments.itemCalibrationPriors());
        }
    }

    /** The label latencies, sorted: from each impression to its first example out of the join (one 0 if none). */
    private static long[] latencies(Impression[] imps, long[] firstSent) {
        long[] latency = new long[imps.length];
        int m = 0;
        for (int k = 0; k < imps.length; k++) {
            if (firstSent[k] != Long.MIN_VALUE) {
                latency[m++] = firstSent[k] - imps[k].ts();
            }
        }
        Arrays.sort(latency, 0, m);
        // None sent: a latency of 0, as before any example, so that the percentiles stay defined.
        return Arrays.copyOf(latency, Math.max(1, m));
    }

    /** An impression's final labels (click within the click window, conversion within its window). */
    private static LabeledExample finalLabels(Impression im) {
        LabeledExample ex = new LabeledExample();
        ex.click = FeedbackBench.clicked(im) ? 1 : 0;
        ex.conversion = FeedbackBench.converted(im) ? 1 : 0;
        return ex;
    }

    /**
     * The labels of an impression of the warm-up days as the {@code warmup}'s history has them: as
     * the log knows them at {@code switchAt} (a click or conversion after it is not yet there), or final.
     */
    private static LabeledExample historyLabels(Impression im, FeedbackExperiments.Warmup warmup, long switchAt) {
        LabeledExample ex = finalLabels(im);
        if (warmup == FeedbackExperiments.Warmup.LOGGED) {
            ex.click = ex.click == 1 && im.clickTs() < switchAt ? 1 : 0;
            ex.conversion = ex.conversion == 1 && im.conversionTs() < switchAt ? 1 : 0;
        }
        return ex;
    }

    /**
     * The oracle's examples sent late ({@link FeedbackExperiments#LATE_ORACLE}): each impression once,
     * with its final labels, at its conversion if it converts, else at a delay drawn from the delays
     * (impression to conversion) of the conversions sent before, as {@code fnw-matched} sends its
     * fake negatives. So the positives reach training when they would in a stream, without being
     * split from their impressions' negatives.
     */
    private static final class LateOracle {
        /** {time to send, impression index}, earliest first. */
        private final PriorityQueue<long[]> due = new PriorityQueue<>((a, b) -> Long.compare(a[0], b[0]));

        private final RecentDelays delays;
        private final SplittableRandom rnd = new SplittableRandom(17);

        LateOracle(int sample) {
            delays = new RecentDelays(sample);
        }

        /** Schedules impression {@code k} of {@code imps}, which has just come. */
        void add(Impression[] imps, int k) {
            Impression im = imps[k];
            long at = FeedbackBench.converted(im) ? im.conversionTs() : im.ts() + delays.draw(rnd.nextLong());
            due.add(new long[] {at, k});
        }

        /** Sends, in time order, the examples due up to {@code limit}, setting {@code now}. */
        void sendUntil(long limit, Impression[] imps, IntFunction<Consumer<LabeledExample>> emitter, long[] now) {
            while (!due.isEmpty() && due.peek()[0] <= limit) {
                long[] t = due.poll();
                Impression im = imps[(int) t[1]];
                now[0] = Math.max(now[0], t[0]);
                emitter.apply((int) t[1]).accept(finalLabels(im));
                if (FeedbackBench.converted(im)) {
                    delays.add(im.conversionTs() - im.ts(), im.conversionTs());
                }
            }
        }
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
            IntFunction<Consumer<LabeledExample>> emitter,
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
}
