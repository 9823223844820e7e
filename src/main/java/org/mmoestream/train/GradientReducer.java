package org.mmoestream.train;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.metrics.Counter;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.InternalTimer;
import org.apache.flink.streaming.api.operators.InternalTimerService;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.operators.Triggerable;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.util.OutputTag;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.codec.SpecJson;
import org.mmoestream.publish.ModelChunk;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The model of a model trained on several subtasks ({@code train.parallelism} > 1), keyed by model
 * id. Training goes in synchronous rounds: every replica computes the gradient of its share of the
 * round's examples on the same synchronization version; when the shares of every replica it waits
 * for are in, the reducer averages them (weighted by examples) and takes one optimizer step, as one
 * trainer would on the union of the shares, then sends the replicas the next synchronization version
 * (side output {@link #SYNC}: every row at first, then the dense parameters and the rows the step
 * changed), on which they compute the next round. It publishes versions to the model topic as the
 * single trainer does (same state, same uid, same versions), also before each checkpoint barrier
 * when anything changed, so that the last version before a savepoint is the model the job restores.
 *
 * <p>A round waits for the replicas that sent a share to the previous round (and those that have
 * just started), at most {@code train.sync-interval} after its first share (ten times that in the
 * model's first {@link #WARMUP_STEPS} steps); it also closes before
 * a checkpoint barrier and at the end of the input. A share computed on an older version (its
 * replica was not waited for) joins the current round's average: the only staleness there is.
 *
 * <p>A replica starts with a hello: the reducer loads the model (from state, else from the seed or
 * {@code train.init-from}) and answers with a full synchronization version.
 */
public class GradientReducer extends AbstractStreamOperator<ModelChunk>
        implements OneInputStreamOperator<ReplicaGradient, ModelChunk>,
                BoundedOneInput,
                Triggerable<String, VoidNamespace> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(GradientReducer.class);

    /** The synchronization versions for the replicas. */
    public static final OutputTag<ModelChunk> SYNC = new OutputTag<>("sync", TypeInformation.of(ModelChunk.class));

    private final TrainOperator.Settings settings;
    private final long syncIntervalMillis;
    private transient ModelSpec spec;
    private transient Map<String, Model> models;
    private transient InternalTimerService<VoidNamespace> timers;
    private transient ModelRuntime.StateAccess state;
    private transient Counter rounds;
    private transient Counter staleShares;
    private transient Counter versions;
    private transient Counter syncBytes;
    private transient List<org.mmoestream.feature.EncodedExample> probes;

    /** One model: its runtime and the round in progress (in memory: a restart starts over with a full version). */
    private static final class Model {
        final ModelRuntime rt;
        long nextPublish = Long.MAX_VALUE;
        /** The synchronization version the current round's shares are computed on. */
        long version;
        /** The replicas the round waits for: those that sent a share to the last round, and new ones. */
        Set<Integer> waitFor = new TreeSet<>();
        /** The round's shares on {@link #version}, by replica. */
        final Map<Integer, ReplicaGradient> shares = new TreeMap<>();
        /** Shares on older versions that join this round. */
        final List<ReplicaGradient> late = new ArrayList<>();
        /** When the round closes at the latest (Long.MAX_VALUE: no share yet). */
        long closeBy = Long.MAX_VALUE;

        Model(ModelRuntime rt, long firstVersion) {
            this.rt = rt;
            this.version = firstVersion;
        }

        boolean open() {
            return !shares.isEmpty() || !late.isEmpty();
        }
    }

    /**
     * The optimizer steps at the start of a model's training during which a round waits {@link
     * #WARMUP_WAIT_FACTOR} sync intervals for its replicas: a model's first steps are its largest
     * (Adagrad's accumulators start at 0), and a share that misses one of them is pushed again onto
     * a model that has already moved its way. In {@code bench train} at a 100 ms interval, shares
     * late by a replica's first compilations came after 128 and 384 examples trained, and the run's
     * cvr AUC ended 0.023 below one trainer's (README, Training one model on several subtasks).
     */
    static final long WARMUP_STEPS = 16;

    static final int WARMUP_WAIT_FACTOR = 10;
    private final long warmupSteps;

    public GradientReducer(TrainOperator.Settings settings, long syncIntervalMillis) {
        this(settings, syncIntervalMillis, WARMUP_STEPS);
    }

    /** As above, waiting longer for the replicas while the model has taken fewer than {@code warmupSteps} steps. */
    GradientReducer(TrainOperator.Settings settings, long syncIntervalMillis, long warmupSteps) {
        this.settings = settings;
        this.syncIntervalMillis = syncIntervalMillis;
        this.warmupSteps = warmupSteps;
    }

    @Override
    public void open() throws Exception {
        super.open();
        spec = SpecJson.read(settings.specJson());
        probes = TrainOperator.encodeProbes(spec, settings);
        models = new LinkedHashMap<>();
        // The single trainer's timer service: a savepoint of either restores into the other, publish timers included.
        timers = getInternalTimerService("train-timers", VoidNamespaceSerializer.INSTANCE, this);
        state = TrainState.open(getKeyedStateStore());
        rounds = getMetricGroup().counter("rounds");
        staleShares = getMetricGroup().counter("stale_shares");
        versions = getMetricGroup().counter("versions_published");
        syncBytes = getMetricGroup().counter("sync_bytes_published");
    }

    /** The runtime of {@code modelId}, or null before its first share (for tests). */
    ModelRuntime runtimeOf(String modelId) {
        Model m = models.get(modelId);
        return m == null ? null : m.rt;
    }

    private Model model(String key) throws Exception {
        Model m = models.get(key);
        if (m == null) {
            ModelRuntime rt = ModelRuntime.load(key, spec, settings, state);
            try {
                if (rt.warmStartUnpublished()) {
                    // The model as it came from train.init-from, before any round: version 1, as the single trainer.
                    publish(rt, getProcessingTimeService().getCurrentProcessingTime());
                }
                // Examples a single trainer had waiting for a batch when its savepoint was taken (the job
                // ran with train.parallelism 1): trained here, so the replicas start from a model with them.
                rt.order.release(Long.MAX_VALUE);
                while (rt.order.buffered() > 0) {
                    rt.train(rt.order.take(Math.min(settings.batchSize(), rt.order.buffered())), state);
                }
            } catch (Exception e) {
                // Not kept, so close() would not stop its step threads.
                rt.close();
                throw e;
            }
            // Sync versions are numbered from the start time, so a restarted reducer never reuses a number.
            m = new Model(rt, getProcessingTimeService().getCurrentProcessingTime() * 1000);
            models.put(key, m);
            rt.registerMetrics(getMetricGroup().addGroup("model", key));
            long now = getProcessingTimeService().getCurrentProcessingTime();
            m.nextPublish = now + settings.publishIntervalMillis();
            timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, m.nextPublish);
        }
        return m;
    }

    @Override
    public void processElement(StreamRecord<ReplicaGradient> record) throws Exception {
        Model m = model((String) getCurrentKey());
        ReplicaGradient g = record.getValue();
        if (g.isRequest()) {
            // A replica's hello (it starts) or a resync: it waits for a full version of the model as it is.
            m.waitFor.add(g.replica);
            send(m.rt.sync(m.version, -1, true, true));
            return;
        }
        if (g.base == m.version && !m.shares.containsKey(g.replica)) {
            m.shares.put(g.replica, g);
        } else if (g.base < m.version) {
            m.late.add(g);
            staleShares.inc();
            long trained = m.rt.model().examplesSeen();
            SyncTraffic.STALE_SHARES.increment();
            SyncTraffic.STALE_EXAMPLES.add(g.examples);
            SyncTraffic.FIRST_STALE_AT.accumulate(trained);
            LOG.info(
                    "model {}: a share of replica {} ({} examples) computed on sync version {} joins the round of"
                            + " version {} ({} behind), after {} examples trained (train.sync-interval: {} ms)",
                    getCurrentKey(),
                    g.replica,
                    g.examples,
                    g.base,
                    m.version,
                    m.version - g.base,
                    trained,
                    syncIntervalMillis);
        } else {
            throw new IllegalStateException(g + " on version " + g.base + ": the reducer is at version " + m.version
                    + (g.base == m.version ? " and has a share of that replica" : ""));
        }
        if (m.shares.keySet().containsAll(m.waitFor)) {
            closeRound(m);
        } else if (m.closeBy == Long.MAX_VALUE) {
            long wait =
                    m.rt.model().step() < warmupSteps ? WARMUP_WAIT_FACTOR * syncIntervalMillis : syncIntervalMillis;
            m.closeBy = getProcessingTimeService().getCurrentProcessingTime() + wait;
            timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, m.closeBy);
        }
    }

    /** One optimizer step on the round's shares, then the next synchronization version. */
    private void closeRound(Model m) {
        List<ReplicaGradient> all = new ArrayList<>(m.shares.values());
        all.addAll(m.late);
        boolean stepped = m.rt.applyRound(all);
        // The next round waits for the replicas that sent a share to this one, on time or late.
        m.waitFor = new TreeSet<>(m.shares.keySet());
        m.late.forEach(g -> m.waitFor.add(g.replica));
        m.shares.clear();
        m.late.clear();
        m.closeBy = Long.MAX_VALUE;
        long base = m.version;
        m.version++;
        rounds.inc();
        send(m.rt.sync(m.version, base, false, stepped));
    }

    private void send(List<ModelChunk> chunks) {
        for (ModelChunk c : chunks) {
            syncBytes.inc(c.bytes.length);
            SyncTraffic.SYNC_BYTES.add(c.bytes.length);
            output.collect(SYNC, new StreamRecord<>(c));
        }
    }

    @Override
    public void onEventTime(InternalTimer<String, VoidNamespace> timer) {
        // processing-time timers only
    }

    @Override
    public void onProcessingTime(InternalTimer<String, VoidNamespace> timer) throws Exception {
        Model m = model(timer.getKey());
        long now = getProcessingTimeService().getCurrentProcessingTime();
        if (m.open() && now >= m.closeBy) {
            closeRound(m);
        }
        if (now >= m.nextPublish) {
            publish(m.rt, now);
            m.nextPublish = now + settings.publishIntervalMillis();
            timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, m.nextPublish);
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

    /**
     * Before a barrier every replica has sent a share of all it had received, so the round in
     * progress holds every example before the barrier: it closes here, and the model goes to state.
     */
    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        super.prepareSnapshotPreBarrier(checkpointId);
        long now = getProcessingTimeService().getCurrentProcessingTime();
        for (Map.Entry<String, Model> e : models.entrySet()) {
            setCurrentKey(e.getKey());
            Model m = e.getValue();
            if (m.open()) {
                closeRound(m);
            }
            if (m.rt.changedSinceVersion()) {
                publish(m.rt, now);
            }
            m.rt.flush(state);
        }
    }

    @Override
    public void endInput() throws Exception {
        // As the single trainer: a model restored and given no share since is loaded (which trains
        // what a single trainer's savepoint had waiting) and published.
        for (String key : TrainState.restoredKeys(getKeyedStateBackend(), models.keySet())) {
            setCurrentKey(key);
            model(key);
        }
        long now = getProcessingTimeService().getCurrentProcessingTime();
        for (Map.Entry<String, Model> e : models.entrySet()) {
            setCurrentKey(e.getKey());
            if (e.getValue().open()) {
                closeRound(e.getValue());
            }
            publish(e.getValue().rt, now);
        }
    }

    @Override
    public void close() throws Exception {
        if (models != null) {
            for (Model m : models.values()) {
                m.rt.close();
            }
        }
        super.close();
    }
}
