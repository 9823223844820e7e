package org.mmoestream.train;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.InternalTimer;
import org.apache.flink.streaming.api.operators.InternalTimerService;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.operators.Triggerable;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.codec.SpecJson;
import org.mmoestream.publish.ModelChunk;

/**
 * Trains one model per key (the model id) on the encoded examples of that model, and publishes
 * its versions. A thin adapter: {@link ModelRuntime} and its parts do the work; this class keeps
 * Flink state, timers and metrics.
 *
 * <p>State (keyed by model id, RocksDB in production): the dense parameters and their optimizer
 * state as flat float arrays, the dense-feature statistics, the counters (step, examples,
 * version), the examples waiting for a batch, and one map entry per embedding row ever trained
 * (row and its optimizer state), so a table larger than memory works. In memory the rows live in
 * the model's tables ({@link WorkingSet}); {@link #prepareSnapshotPreBarrier} writes the changed
 * ones and everything else back, so a checkpoint always has the current model and loses no
 * buffered example.
 *
 * <p>Batches of {@code batchSize} examples are trained in arrival order; a partial batch waits at
 * most {@code maxWait}. In event-time order ({@code train.order: event-time}) examples are held and
 * released by the watermark ({@link TrainingOrder}), in full batches only, the last partial batch
 * at the end of the input. An example that comes after its release time is trained at once and
 * counted in {@code examples_out_of_order}. Every {@code publishInterval} a version is emitted as
 * {@link ModelChunk}s ({@link PublishPolicy}).
 */
public class TrainOperator extends AbstractStreamOperator<ModelChunk>
        implements OneInputStreamOperator<TrainExample, ModelChunk>,
                BoundedOneInput,
                Triggerable<String, VoidNamespace> {
    private static final long serialVersionUID = 1L;

    /**
     * What the operator needs from the job configuration, built by name: {@code Settings.of(spec)}
     * holds the job configuration's defaults and each {@code withX} returns a copy with X set.
     * {@code orderHorizonMillis} 0 trains in arrival order; a positive horizon (click window +
     * conversion window) trains in event-time order.
     */
    public static final class Settings implements Serializable, Cloneable {
        private static final long serialVersionUID = 2L;
        private final String specJson;
        private long seed = 42;
        private int batchSize = 256;
        private int threads = 1;
        private double gradientDensity = 1;
        private long maxWaitMillis = 1_000;
        private long publishIntervalMillis = 10_000;
        private int fullEvery = 10;
        private int maxMessageBytes = 900_000;
        private long workingSetRows = 4_000_000;
        private int metricsWindow = 10_000;
        private List<String> probes = List.of();
        private long orderHorizonMillis;
        private long outcomeClickHorizonMillis;
        private long outcomeHorizonMillis;
        private org.mmoestream.model.Objective.Weights feedbackWeights = org.mmoestream.model.Objective.Weights.NONE;
        private String initFrom;

        private Settings(String specJson) {
            this.specJson = specJson;
        }

        /** The settings of the job configuration's defaults for the model spec {@code specJson}. */
        public static Settings of(String specJson) {
            return new Settings(specJson);
        }

        private Settings copy() {
            try {
                return (Settings) clone();
            } catch (CloneNotSupportedException e) {
                throw new AssertionError(e);
            }
        }

        public String specJson() {
            return specJson;
        }

        public long seed() {
            return seed;
        }

        public int batchSize() {
            return batchSize;
        }

        /** Threads that compute each step ({@code train.threads}). */
        public int threads() {
            return threads;
        }

        public Settings withThreads(int v) {
            Settings s = copy();
            s.threads = v;
            return s;
        }

        /**
         * With train.parallelism > 1: the share of its dense gradient's entries a replica sends per
         * round ({@code train.gradient-density}).
         */
        public double gradientDensity() {
            return gradientDensity;
        }

        public Settings withGradientDensity(double v) {
            Settings s = copy();
            s.gradientDensity = v;
            return s;
        }

        public long maxWaitMillis() {
            return maxWaitMillis;
        }

        public long publishIntervalMillis() {
            return publishIntervalMillis;
        }

        public int fullEvery() {
            return fullEvery;
        }

        public int maxMessageBytes() {
            return maxMessageBytes;
        }

        public long workingSetRows() {
            return workingSetRows;
        }

        public int metricsWindow() {
            return metricsWindow;
        }

        public List<String> probes() {
            return probes;
        }

        public long orderHorizonMillis() {
            return orderHorizonMillis;
        }

        public org.mmoestream.model.Objective.Weights feedbackWeights() {
            return feedbackWeights;
        }

        /** The snapshot file a model without state starts from, or null (see {@link WarmStart}). */
        public String initFrom() {
            return initFrom;
        }

        public Settings withInitFrom(String path) {
            Settings s = copy();
            s.initFrom = path;
            return s;
        }

        /** Whether examples are trained in event-time order. */
        public boolean eventTimeOrder() {
            return orderHorizonMillis > 0;
        }

        public Settings withSeed(long v) {
            Settings s = copy();
            s.seed = v;
            return s;
        }

        public Settings withBatchSize(int v) {
            Settings s = copy();
            s.batchSize = v;
            return s;
        }

        public Settings withMaxWait(long millis) {
            Settings s = copy();
            s.maxWaitMillis = millis;
            return s;
        }

        public Settings withPublishInterval(long millis) {
            Settings s = copy();
            s.publishIntervalMillis = millis;
            return s;
        }

        public Settings withFullEvery(int v) {
            Settings s = copy();
            s.fullEvery = v;
            return s;
        }

        public Settings withMaxMessageBytes(int v) {
            Settings s = copy();
            s.maxMessageBytes = v;
            return s;
        }

        public Settings withWorkingSetRows(long v) {
            Settings s = copy();
            s.workingSetRows = v;
            return s;
        }

        public Settings withMetricsWindow(int v) {
            Settings s = copy();
            s.metricsWindow = v;
            return s;
        }

        public Settings withProbes(List<String> v) {
            Settings s = copy();
            s.probes = v == null ? List.of() : List.copyOf(v);
            return s;
        }

        /**
         * An early feedback mode's progressive metrics ({@link Outcomes}): each impression scored at
         * its first emission, measured on its click's tasks {@code clickMillis} (event time) after it
         * (click window + allowed disorder) and on the other heads {@code millis} after it (click
         * window + conversion window + allowed disorder); 0: the labels of every example are final
         * ({@code join.feedback: wait}).
         */
        public Settings withOutcomeHorizons(long clickMillis, long millis) {
            Settings s = copy();
            s.outcomeClickHorizonMillis = clickMillis;
            s.outcomeHorizonMillis = millis;
            return s;
        }

        public long outcomeClickHorizonMillis() {
            return outcomeClickHorizonMillis;
        }

        public long outcomeHorizonMillis() {
            return outcomeHorizonMillis;
        }

        /** Event-time order with this horizon (click window + conversion window); 0: arrival order. */
        public Settings withOrderHorizon(long millis) {
            Settings s = copy();
            s.orderHorizonMillis = millis;
            return s;
        }

        /**
         * How the loss weights rows sent before their labels are final ({@code join.feedback}: fnw,
         * defer); see {@link org.mmoestream.model.Objective}.
         */
        public Settings withFeedbackWeights(org.mmoestream.model.Objective.Weights w) {
            Settings s = copy();
            s.feedbackWeights = w;
            return s;
        }
    }

    private final Settings settings;

    /**
     * Fails with one sentence when {@code file} is not a full snapshot a model of {@code spec} could
     * start from (see {@link WarmStart}).
     */
    public static void checkInitFrom(String file, ModelSpec spec) {
        WarmStart.read(file).check(spec);
    }

    private transient ModelSpec spec;
    private transient Map<String, ModelRuntime> runtimes;
    private transient InternalTimerService<VoidNamespace> timers;
    private transient ModelRuntime.StateAccess state;
    private transient Counter trained;
    private transient Counter versions;
    private transient Counter outOfOrder;
    private transient List<EncodedExample> probes;

    public TrainOperator(Settings settings) {
        this.settings = settings;
    }

    /** The probe impressions of {@code train.probes} (each version carries their scores), encoded. */
    static List<EncodedExample> encodeProbes(ModelSpec spec, Settings settings) {
        ExampleEncoder encoder = new ExampleEncoder(spec);
        List<EncodedExample> out = new ArrayList<>();
        for (String p : settings.probes()) {
            out.add(encoder.encodeFeatures(p, null));
        }
        return out;
    }

    @Override
    public void open() throws Exception {
        super.open();
        spec = SpecJson.read(settings.specJson());
        ExampleEncoder.requireEvents(spec);
        probes = encodeProbes(spec, settings);
        runtimes = new LinkedHashMap<>();
        timers = getInternalTimerService("train-timers", VoidNamespaceSerializer.INSTANCE, this);
        state = TrainState.open(getKeyedStateStore());
        MetricGroup g = getMetricGroup();
        trained = g.counter("examples_trained");
        versions = g.counter("versions_published");
        outOfOrder = g.counter("examples_out_of_order");
    }

    private ModelRuntime runtime(String key) throws Exception {
        ModelRuntime rt = runtimes.get(key);
        if (rt == null) {
            rt = ModelRuntime.load(key, spec, settings, state);
            runtimes.put(key, rt);
            rt.registerMetrics(getMetricGroup().addGroup("model", key));
        }
        return rt;
    }

    @Override
    public void processElement(StreamRecord<TrainExample> record) throws Exception {
        ModelRuntime rt = runtime((String) getCurrentKey());
        long now = getProcessingTimeService().getCurrentProcessingTime();
        if (rt.warmStartUnpublished()) {
            // The model as it came from the snapshot, before any example: version 1.
            publish(rt, now);
        }
        if (!rt.publishTimerSet) {
            rt.nextPublish = now + settings.publishIntervalMillis();
            timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, rt.nextPublish);
            rt.publishTimerSet = true;
        }
        TrainExample e = record.getValue();
        boolean wasEmpty = rt.order.buffered() == 0;
        if (rt.order.offer(e, timers.currentWatermark())) {
            long due = rt.order.due(e);
            if (due < rt.heldTimer) {
                timers.registerEventTimeTimer(VoidNamespace.INSTANCE, due);
                rt.heldTimer = due;
            }
            return;
        }
        if (rt.order.eventTime()) {
            outOfOrder.inc();
        } else if (wasEmpty) {
            rt.bufferSince = now;
            timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, now + settings.maxWaitMillis());
        }
        trainBuffered(rt, false);
    }

    /** Moves the held examples due by {@code watermark} to the batches, in event-time order. */
    private void release(ModelRuntime rt, long watermark) throws Exception {
        rt.order.release(watermark);
        trainBuffered(rt, false);
        rt.heldTimer = rt.order.nextDue();
        if (rt.heldTimer != Long.MAX_VALUE) {
            timers.registerEventTimeTimer(VoidNamespace.INSTANCE, rt.heldTimer);
        }
    }

    /** Trains full batches from the buffer, and the rest as one partial batch if {@code partial}. */
    private void trainBuffered(ModelRuntime rt, boolean partial) throws Exception {
        while (rt.order.buffered() >= settings.batchSize() || (partial && rt.order.buffered() > 0)) {
            List<TrainExample> batch = rt.order.take(Math.min(settings.batchSize(), rt.order.buffered()));
            // Every example before the watermark is in this batch or an earlier one only when none waits.
            rt.outcomeClock = rt.order.buffered() == 0 ? timers.currentWatermark() : Long.MIN_VALUE;
            rt.train(batch, state);
            trained.inc(batch.size());
        }
    }

    @Override
    public void onProcessingTime(InternalTimer<String, VoidNamespace> timer) throws Exception {
        ModelRuntime rt = runtime(timer.getKey());
        long now = getProcessingTimeService().getCurrentProcessingTime();
        if (!rt.order.eventTime() && rt.order.buffered() > 0 && now - rt.bufferSince >= settings.maxWaitMillis()) {
            trainBuffered(rt, true);
        }
        if (now >= rt.nextPublish) {
            publish(rt, now);
            rt.nextPublish = now + settings.publishIntervalMillis();
            timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, rt.nextPublish);
            rt.publishTimerSet = true;
        }
    }

    private void publish(ModelRuntime rt, long now) throws Exception {
        List<ModelChunk> chunks = rt.publish(now, state, probes);
        for (ModelChunk c : chunks) {
            output.collect(new StreamRecord<>(c));
        }
        if (!chunks.isEmpty()) {
            versions.inc();
        }
    }

    @Override
    public void onEventTime(InternalTimer<String, VoidNamespace> timer) throws Exception {
        release(runtime(timer.getKey()), timers.currentWatermark());
    }

    @Override
    public void endInput() throws Exception {
        // A model restored from a checkpoint but given no example or timer since has trained
        // examples no committed version holds yet: load it, so that it is published too.
        for (String key : TrainState.restoredKeys(getKeyedStateBackend(), runtimes.keySet())) {
            setCurrentKey(key);
            runtime(key);
        }
        for (Map.Entry<String, ModelRuntime> e : runtimes.entrySet()) {
            setCurrentKey(e.getKey());
            ModelRuntime rt = e.getValue();
            rt.order.release(Long.MAX_VALUE);
            trainBuffered(rt, true);
            rt.measureOutcomes(Long.MAX_VALUE);
            publish(rt, getProcessingTimeService().getCurrentProcessingTime());
        }
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        super.prepareSnapshotPreBarrier(checkpointId);
        for (Map.Entry<String, ModelRuntime> e : runtimes.entrySet()) {
            setCurrentKey(e.getKey());
            e.getValue().flush(state);
        }
    }

    @Override
    public void close() throws Exception {
        if (runtimes != null) {
            for (ModelRuntime rt : runtimes.values()) {
                rt.close();
            }
        }
        super.close();
    }

    /** Scores examples with the current parameters of {@code modelId} (tests, scoring parity). */
    public double[][] score(String modelId, List<EncodedExample> rows) throws Exception {
        setCurrentKey(modelId);
        return runtime(modelId).predict(rows, state);
    }

    /** The in-memory runtime of a model, or null (tests). */
    ModelRuntime runtimeOf(String modelId) {
        return runtimes.get(modelId);
    }

    /** Total examples trained by this operator instance. */
    public long examplesTrained() {
        return trained.getCount();
    }
}
