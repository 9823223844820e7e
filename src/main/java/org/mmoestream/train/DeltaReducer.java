package org.mmoestream.train;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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

/**
 * The model of a model trained on several subtasks ({@code train.parallelism} > 1), keyed by model
 * id: it adds every replica's {@link ModelDelta} to the model as it comes, publishes versions to
 * the model topic as the single trainer does (same state, same uid, same versions), and sends the
 * replicas synchronization versions (side output {@link #SYNC}: every row and its optimizer state
 * at first, then the rows changed since the previous one, as soon as deltas have come; the deltas
 * that arrive meanwhile share the next one). A
 * version is also published before each checkpoint barrier when anything changed since the last,
 * so that the last version before a savepoint is the model the job restores.
 *
 * <p>A replica starts with an empty delta (a hello): the reducer loads the model (from state, else
 * from the seed) and answers with a full synchronization version, on which the replica trains.
 */
public class DeltaReducer extends AbstractStreamOperator<ModelChunk>
        implements OneInputStreamOperator<ModelDelta, ModelChunk>, BoundedOneInput, Triggerable<String, VoidNamespace> {
    private static final long serialVersionUID = 1L;

    /** The synchronization versions for the replicas. */
    public static final OutputTag<ModelChunk> SYNC = new OutputTag<>("sync", TypeInformation.of(ModelChunk.class));

    private final TrainOperator.Settings settings;
    private transient ModelSpec spec;
    private transient Map<String, Model> models;
    private transient InternalTimerService<VoidNamespace> timers;
    private transient ModelRuntime.StateAccess state;
    private transient Counter deltas;
    private transient Counter versions;
    private transient Counter syncBytes;

    /**
     * One model: its runtime and the synchronization bookkeeping (in memory: a restart starts over with a full
     * one).
     */
    private static final class Model {
        final ModelRuntime rt;
        long nextPublish = Long.MAX_VALUE;
        long nextSync = Long.MAX_VALUE;
        long syncVersion;
        boolean needFullSync = true;
        boolean syncPending;
        /** Per replica, the last of its deltas added (in memory, as the replicas' own numbering). */
        final Map<Integer, Long> applied = new java.util.TreeMap<>();

        Model(ModelRuntime rt, long firstSyncVersion) {
            this.rt = rt;
            this.syncVersion = firstSyncVersion;
        }
    }

    public DeltaReducer(TrainOperator.Settings settings) {
        this.settings = settings;
    }

    @Override
    public void open() throws Exception {
        super.open();
        spec = SpecJson.read(settings.specJson());
        models = new LinkedHashMap<>();
        // The single trainer's timer service: a savepoint of either restores into the other, publish timers included.
        timers = getInternalTimerService("train-timers", VoidNamespaceSerializer.INSTANCE, this);
        state = TrainState.open(getKeyedStateStore());
        deltas = getMetricGroup().counter("deltas_applied");
        versions = getMetricGroup().counter("versions_published");
        syncBytes = getMetricGroup().counter("sync_bytes_published");
    }

    private Model model(String key) throws Exception {
        Model m = models.get(key);
        if (m == null) {
            ModelRuntime rt = ModelRuntime.load(key, spec, settings, state);
            // Examples a single trainer had waiting for a batch when its savepoint was taken (the job
            // ran with train.parallelism 1): trained here, so the replicas start from a model with them.
            rt.order.release(Long.MAX_VALUE);
            while (rt.order.buffered() > 0) {
                rt.train(rt.order.take(Math.min(settings.batchSize(), rt.order.buffered())), state);
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
    public void processElement(StreamRecord<ModelDelta> record) throws Exception {
        Model m = model((String) getCurrentKey());
        ModelDelta d = record.getValue();
        m.rt.applyDelta(d);
        deltas.inc();
        long now = getProcessingTimeService().getCurrentProcessingTime();
        if (d.isRequest()) {
            // A replica's hello (it starts over) or a resync: it waits for a full synchronization version.
            m.needFullSync = true;
            if (d.hello) {
                m.applied.remove(d.replica);
            }
            scheduleSync(m, now);
        } else {
            m.applied.merge(d.replica, d.seq, Math::max);
            // At once: the other replicas see this one's learning, and it may be waiting for the version.
            scheduleSync(m, now);
        }
    }

    private void scheduleSync(Model m, long at) {
        if (!m.syncPending || at < m.nextSync) {
            m.nextSync = at;
            m.syncPending = true;
            timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, at);
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
        if (m.syncPending && now >= m.nextSync) {
            sync(m);
        }
        if (now >= m.nextPublish) {
            publish(m, now);
            m.nextPublish = now + settings.publishIntervalMillis();
            timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, m.nextPublish);
        }
    }

    private void sync(Model m) {
        boolean full = m.needFullSync;
        long base = m.syncVersion;
        m.syncVersion++;
        for (ModelChunk c : m.rt.sync(m.syncVersion, base, full, m.applied)) {
            syncBytes.inc(c.bytes.length);
            SyncTraffic.SYNC_BYTES.add(c.bytes.length);
            output.collect(SYNC, new StreamRecord<>(c));
        }
        m.needFullSync = false;
        m.syncPending = false;
        m.nextSync = Long.MAX_VALUE;
    }

    private void publish(Model m, long now) throws Exception {
        List<ModelChunk> chunks = m.rt.publish(now, state, List.of());
        for (ModelChunk c : chunks) {
            output.collect(new StreamRecord<>(c));
        }
        if (!chunks.isEmpty()) {
            versions.inc();
        }
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        super.prepareSnapshotPreBarrier(checkpointId);
        long now = getProcessingTimeService().getCurrentProcessingTime();
        for (Map.Entry<String, Model> e : models.entrySet()) {
            setCurrentKey(e.getKey());
            if (e.getValue().rt.changedSinceVersion()) {
                publish(e.getValue(), now);
            }
            e.getValue().rt.flush(state);
        }
    }

    @Override
    public void endInput() throws Exception {
        long now = getProcessingTimeService().getCurrentProcessingTime();
        for (Map.Entry<String, Model> e : models.entrySet()) {
            setCurrentKey(e.getKey());
            publish(e.getValue(), now);
        }
    }
}
