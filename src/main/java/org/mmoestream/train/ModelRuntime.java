package org.mmoestream.train;

import java.util.List;
import java.util.Locale;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.Batch;
import org.mmoestream.model.GateStatistics;
import org.mmoestream.model.Heads;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.SlidingMetrics;
import org.mmoestream.model.codec.Snapshots;
import org.mmoestream.publish.ModelChunk;
import org.nd4j.linalg.api.buffer.DataType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One model inside {@link TrainOperator}: the model, its rows in memory ({@link WorkingSet}), its
 * examples in training order ({@link TrainingOrder}), its versions ({@link PublishPolicy}) and its
 * progressive metrics. Calls happen with the operator's current key set to this model, so its
 * keyed state is this model's.
 */
final class ModelRuntime {
    private static final Logger LOG = LoggerFactory.getLogger(ModelRuntime.class);

    /** The keyed state of a model (see {@link TrainOperator}). */
    record StateAccess(
            ValueState<float[]> dense,
            ValueState<float[]> denseOptimizer,
            ValueState<double[]> denseStats,
            ValueState<long[]> counters,
            RowStore rows,
            ListState<TrainExample> buffer,
            ListState<TrainExample> held) {}

    final String key;
    private final ModelSpec spec;
    private final TrainOperator.Settings settings;
    private final MmoeModel model;
    private final WorkingSet rows;
    final TrainingOrder order;
    private final PublishPolicy policy;
    private final SlidingMetrics[] metrics;
    private final Batch.Builder builder;
    private GateStatistics gates;
    /** Milliseconds from label (join emission) to the version that first includes the example. */
    private final org.HdrHistogram.Histogram freshness = new org.HdrHistogram.Histogram(3_600_000L, 2);
    /**
     * Event time the labels became final to the version that first includes them (their age: with
     * live events this includes the queueing before the join), up to a week.
     */
    private static final long LABEL_AGE_MAX = 7L * 24 * 3_600_000;

    private final org.HdrHistogram.Histogram labelAge = new org.HdrHistogram.Histogram(LABEL_AGE_MAX, 2);
    /** Label-to-version latency of the examples new in the last version that had any (gauges). */
    private long freshnessP50;

    private long freshnessP99;
    /** Where the model came from when it started from a snapshot (JSON for the versions' metrics), or null. */
    String warmStart;
    /** Per task, the gate entropy and polarized share of the last version with examples (gauges). */
    private final double[] gateEntropy;

    private final double[] gatePolarized;
    /** The latest impression event time among the examples trained (Long.MIN_VALUE: none yet). */
    private long trainedUpTo = Long.MIN_VALUE;
    /** The event time the serving average spans (gauge {@code serving_average_hours}). */
    private final ServingSpan servingSpan;

    private final LabeledTimes labeled = new LabeledTimes();
    /** The progressive metrics of an early feedback mode (null: every example's labels are final). */
    private final Outcomes outcomes;
    /**
     * The event time up to which every example has reached the trainer (the watermark when every
     * example that came before it is trained; MIN_VALUE when unknown), past which {@link #outcomes}
     * counts the labels of an impression older than its horizon final.
     */
    long outcomeClock = Long.MIN_VALUE;
    /** Event time of the earliest release timer registered since the last release (in memory only). */
    long heldTimer = Long.MAX_VALUE;
    /** Rows written to state by the last checkpoint, and how long that took (metrics). */
    private int lastFlushRows;

    private long lastFlushMillis;
    /** The step of a round (a model trained on several subtasks). */
    private final RoundStep round = new RoundStep();
    /** With train.gradient-density below 1: the dense values of the last sync version, to send what changed. */
    private final SyncedDense synced = new SyncedDense();

    long bufferSince;
    long nextPublish;
    boolean publishTimerSet;

    private ModelRuntime(String key, ModelSpec spec, TrainOperator.Settings settings) {
        this.key = key;
        this.spec = spec;
        this.settings = settings;
        int[] capacity = WorkingSet.capacities(spec, settings.workingSetRows(), settings.batchSize());
        model = MmoeModel.createCompact(spec, settings.seed(), DataType.FLOAT, capacity);
        model.useFeedbackWeights(settings.feedbackWeights());
        model.scalePartialBatches(settings.batchSize());
        rows = new WorkingSet(spec, settings.seed(), capacity);
        order = new TrainingOrder(settings.orderHorizonMillis());
        outcomes = settings.outcomeHorizonMillis() > 0
                ? new Outcomes(spec, settings.outcomeClickHorizonMillis(), settings.outcomeHorizonMillis())
                : null;
        policy = new PublishPolicy(settings.fullEvery());
        servingSpan = ServingSpan.of(spec.optimizer());
        gates = new GateStatistics(spec.tasks().size(), model.network().experts());
        gateEntropy = new double[spec.tasks().size()];
        gatePolarized = new double[spec.tasks().size()];
        java.util.Arrays.fill(gateEntropy, Double.NaN);
        java.util.Arrays.fill(gatePolarized, Double.NaN);
        metrics = new SlidingMetrics[spec.heads().size()];
        for (int h = 0; h < metrics.length; h++) {
            metrics[h] = new SlidingMetrics(settings.metricsWindow(), Heads.regression(spec, h));
        }
        builder = new Batch.Builder(
                spec.features().sparse().size(),
                spec.features().dense().size(),
                spec.tasks().size());
    }

    /** The runtime of {@code key}, restored from its state when there is any. */
    static ModelRuntime load(String key, ModelSpec spec, TrainOperator.Settings settings, StateAccess st)
            throws Exception {
        ModelRuntime rt = new ModelRuntime(key, spec, settings);
        rt.rows.load(rt.model.embeddings(), st.rows());
        float[] dense = st.dense().value();
        if (dense != null) {
            long[] c = st.counters().value();
            ModelStateCodec.restore(
                    rt.model,
                    dense,
                    st.denseOptimizer().value(),
                    st.denseStats().value(),
                    c);
            rt.policy.restore(c[3], (int) c[4]);
            // Written since the event time was recorded; state from before has 5 counters.
            rt.trainedUpTo = c.length > 5 ? c[5] : Long.MIN_VALUE;
            rt.order.restore(st.buffer().get(), st.held().get());
        } else if (settings.initFrom() != null) {
            WarmStart w = WarmStart.read(settings.initFrom());
            if (w.modelId().equals(key)) {
                rt.warmStart = w.apply(rt.model, rt.rows);
            }
        }
        // Once the parameters are in place: the average starts at them, or where the state has it.
        rt.model.useServingAverage();
        if (dense != null) {
            ModelStateCodec.restoreAverage(rt.model, dense);
            if (rt.model.servingAverage() != null) {
                // Sized in event time, the average moved last to the newest impression trained.
                rt.model.servingAverage().restoreClock(rt.trainedUpTo);
            }
        }
        // Last: a restore that fails leaves no threads behind.
        rt.model.useThreads(settings.threads());
        return rt;
    }

    /** Trains one batch of examples; the progressive metrics see its predictions first. */
    void train(List<TrainExample> batch, StateAccess st) throws Exception {
        Batch b = LabeledTimes.build(builder, batch, labeled);
        for (TrainExample e : batch) {
            trainedUpTo = Math.max(trainedUpTo, e.impressionTs);
        }
        model.advanceServingAverage(trainedUpTo);
        MmoeModel.StepResult r = model.trainStep(rows.map(b, st.rows(), true));
        stepped();
        if (outcomes != null) {
            outcomes.add(batch, r.predictions(), outcomeClock, (h, p, y) -> metrics[h].add(p, y));
        } else {
            Heads.visit(spec, b, r.predictions(), (h, p, y) -> metrics[h].add(p, y));
        }
        model.addGateStatistics(gates, b.rows());
        policy.trained(b.rows());
    }

    /**
     * Measures, without training, the impressions an early feedback mode holds whose windows have
     * closed by {@code clock} (at the end of the input, every one: no batch follows to measure them).
     */
    void measureOutcomes(long clock) {
        if (outcomes != null && outcomes.pending() > 0) {
            outcomes.add(List.of(), new double[metrics.length][0], clock, (h, p, y) -> metrics[h].add(p, y));
            policy.measured();
        }
    }

    /** Predictions of the parameters as published ({@link MmoeModel#predictServed}), without training. */
    double[][] predict(List<EncodedExample> examples, StateAccess st) throws Exception {
        return model.predictServed(rows.map(Batch.of(examples), st.rows(), false));
    }

    /** Writes the whole model and the waiting examples to state (before a checkpoint barrier). */
    void flush(StateAccess st) throws Exception {
        st.dense().update(ModelStateCodec.dense(model));
        st.denseOptimizer().update(ModelStateCodec.denseOptimizer(model));
        st.denseStats().update(ModelStateCodec.stats(model));
        st.counters()
                .update(ModelStateCodec.counters(model, policy.version(), policy.versionsSinceFull(), trainedUpTo));
        long t0 = System.nanoTime();
        lastFlushRows = rows.flush(st.rows());
        lastFlushMillis = (System.nanoTime() - t0) / 1_000_000;
        st.buffer().update(order.buffer());
        st.held().update(order.held());
    }

    /** The next version's chunks, or none when nothing was trained since the last version. */
    List<ModelChunk> publish(long now, StateAccess st, List<EncodedExample> probes) throws Exception {
        PublishPolicy.Next next = policy.next();
        if (next == null) {
            return List.of();
        }
        record(freshness, now, labeled.emitted.drain());
        if (freshness.getTotalCount() > 0) {
            freshnessP50 = freshness.getValueAtPercentile(50);
            freshnessP99 = freshness.getValueAtPercentile(99);
        }
        record(labelAge, now, labeled.finals.drain());
        String metricsJson = VersionMetrics.json(
                spec,
                metrics,
                freshness,
                labelAge,
                gates,
                probes.isEmpty() ? null : predict(probes, st),
                trainedUpTo,
                warmStart);
        String kind = next.full() ? Snapshots.FULL : Snapshots.DELTA;
        Snapshots.Meta meta =
                new Snapshots.Meta(key, next.version(), kind, next.base(), model.examplesSeen(), now, metricsJson);
        byte[] bytes = next.full()
                ? Snapshots.full(model, meta, rows.fullRows(st.rows()))
                : Snapshots.delta(model, meta, rows.touched(), rows.rows(st.rows()));
        policy.published(next);
        rows.clearTouched();
        for (int t = 0; t < gateEntropy.length; t++) {
            if (Double.isFinite(gates.meanEntropy(t))) {
                gateEntropy[t] = gates.meanEntropy(t);
                gatePolarized[t] = gates.polarizedShare(t);
            }
        }
        gates = new GateStatistics(spec.tasks().size(), model.network().experts());
        return ModelChunk.split(key, next.version(), kind, bytes, settings.maxMessageBytes());
    }

    /** {@code h} over again: the time from each of {@code times} to {@code now}, within its range. */
    private static void record(org.HdrHistogram.Histogram h, long now, long[] times) {
        h.reset();
        for (long t : times) {
            h.recordValue(Math.max(0, Math.min(h.getHighestTrackableValue(), now - t)));
        }
    }

    /** Started from a snapshot and published nothing yet: its first version goes out before any training. */
    boolean warmStartUnpublished() {
        return warmStart != null && policy.version() == 0;
    }

    long version() {
        return policy.version();
    }

    /** Whether something was trained or added since the last published version. */
    boolean changedSinceVersion() {
        return policy.next() != null && policy.version() > 0;
    }

    /**
     * One training round of a model trained on several subtasks (every row resident): the shares'
     * gradients averaged, weighted by their examples, and one optimizer step on them, as one
     * trainer takes on the union of the shares; the shares' dense statistics, counters, metrics,
     * freshness and gate sums. Shares whose loss was not finite count as skipped batches. Returns
     * whether a step was taken.
     */
    boolean applyRound(List<ReplicaGradient> shares) {
        int total = 0;
        boolean heldBack = false;
        for (ReplicaGradient g : shares) {
            model.normalizer().mergeAll(g.stats);
            if (g.skipped) {
                model.restoreCounters(model.step(), model.examplesSeen(), model.skippedBatches() + 1);
            } else {
                total += g.examples;
            }
            heldBack |= g.heldBack;
            for (int h = 0; h < g.predictions.length; h++) {
                for (int i = 0; i < g.predictions[h].length; i++) {
                    metrics[h].add(g.predictions[h][i], g.labels[h][i]);
                }
            }
            labeled.emitted.addAll(g.labeledAt);
            labeled.finals.addAll(g.finalAt);
            gates.addSums(g.gateSums, g.gateRows);
            trainedUpTo = Math.max(trainedUpTo, g.trainedUpTo);
            policy.trained(g.examples);
            if (g.examples == 0 && g.predictions.length > 0 && g.predictions[0].length > 0) {
                // A pass with the impressions a replica held at the end of the input.
                policy.measured();
            }
        }
        model.advanceServingAverage(trainedUpTo);
        if (total == 0 && !heldBack) {
            return false;
        }
        boolean stepped = round.step(model, shares, total, settings.batchSize(), rows::changed);
        if (stepped && total == 0) {
            // Only what replicas held back: a step the next version must carry all the same.
            policy.steppedWithoutExamples();
        }
        stepped();
        return stepped;
    }

    /** After a training call: the serving average's span, and its warning when it spans too long. */
    private void stepped() {
        servingSpan.record(model.step(), trainedUpTo);
        String warning = servingSpan.warning(key);
        if (warning != null) {
            LOG.warn(warning);
        }
    }

    /**
     * The next synchronization version for the replicas, numbered {@code version}: full (every row
     * and its state), or on {@code base} the rows changed since the last one and, when {@code
     * dense}, the dense parameters (with {@code train.gradient-density} below 1, those the round changed).
     */
    List<ModelChunk> sync(long version, long base, boolean full, boolean dense) {
        if (!rows.allResident()) {
            throw new IllegalStateException("a model trained on several subtasks needs every row in memory");
        }
        int[] denseIds = null;
        if (settings.gradientDensity() < 1) {
            if (full) {
                synced.sentAll(model.network().paramAccess());
            } else if (dense) {
                denseIds = synced.changed(model.network().paramAccess());
            }
        }
        byte[] bytes = org.mmoestream.model.codec.SyncSnapshots.write(
                model, key, version, base, full, full ? null : rows.touched(WorkingSet.SYNC), dense, denseIds);
        rows.clearTouched(WorkingSet.SYNC);
        return ModelChunk.split(
                key, version, full ? Snapshots.FULL : Snapshots.DELTA, bytes, settings.maxMessageBytes());
    }

    /** Progressive metrics of head {@code h}. */
    SlidingMetrics metrics(int h) {
        return metrics[h];
    }

    MmoeModel model() {
        return model;
    }

    /** Stops the model's step threads ({@code train.threads}). */
    void close() {
        model.close();
    }

    void registerMetrics(MetricGroup g) {
        List<String> heads = spec.heads();
        for (int h = 0; h < heads.size(); h++) {
            SlidingMetrics m = metrics[h];
            g.gauge(heads.get(h) + "_auc", (Gauge<Double>) m::auc);
            g.gauge(heads.get(h) + "_logloss", (Gauge<Double>) m::logLoss);
            g.gauge(heads.get(h) + "_calibration", (Gauge<Double>) m::calibration);
        }
        g.gauge("version", (Gauge<Long>) policy::version);
        g.gauge("examples_seen", (Gauge<Long>) model::examplesSeen);
        g.gauge("working_set_rows", (Gauge<Integer>) rows::residentRows);
        g.gauge("examples_held", (Gauge<Integer>) order::heldCount);
        g.gauge("train_threads", (Gauge<Integer>) model::threads);
        g.gauge("rows_checkpointed", (Gauge<Integer>) () -> lastFlushRows);
        g.gauge("rows_checkpoint_ms", (Gauge<Long>) () -> lastFlushMillis);
        for (int t = 0; t < spec.tasks().size(); t++) {
            int task = t;
            String name = spec.tasks().get(t).name();
            g.gauge(name + "_gate_entropy", (Gauge<Double>) () -> gateEntropy[task]);
            g.gauge(name + "_gate_polarized_share", (Gauge<Double>) () -> gatePolarized[task]);
        }
        g.gauge("freshness_p50_ms", (Gauge<Long>) () -> freshnessP50);
        g.gauge("freshness_p99_ms", (Gauge<Long>) () -> freshnessP99);
        g.gauge("serving_average_hours", (Gauge<Double>) servingSpan::hours);
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%s(v%d, %d examples)", key, policy.version(), model.examplesSeen());
    }
}
