package org.mmoestream.train;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
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
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.codec.SpecJson;

/**
 * A replica of each model trained on several subtasks, keyed by replica key ({@link ReplicaKeys}):
 * it trains its share of a model's examples in batches on its own copy ({@link ReplicaRuntime}),
 * moving onto the model's latest synchronization version before a batch whenever one has come (a
 * {@link SyncFollower} thread reads them from the sync topic), and every {@code
 * syncIntervalMillis}, before each checkpoint barrier and at the end of its input sends the
 * reducer what it learned ({@link ModelDelta}).
 *
 * <p>Nothing of a replica's model or examples is in state: before a barrier it trains all it has
 * received (a replica still waiting for its first synchronization version waits for it there)
 * and sends its delta, which the reducer has added when the barrier reaches it, so the
 * checkpoint's model is complete and holds every example before the barrier. After a restart, at
 * any number of replicas, a replica starts over from the reducer's full synchronization version.
 */
public class ReplicaOperator extends AbstractStreamOperator<ModelDelta>
        implements OneInputStreamOperator<TrainExample, ModelDelta>,
                BoundedOneInput,
                Triggerable<String, VoidNamespace> {
    private static final long serialVersionUID = 1L;

    /** What a replica needs: the trainer's settings, the synchronization interval and where sync versions are. */
    public record Settings(
            TrainOperator.Settings train,
            ReplicaKeys keys,
            long syncIntervalMillis,
            int syncBatches,
            String bootstrap,
            String syncTopic,
            Properties client)
            implements Serializable {}

    /**
     * A replica trains on only while at most this many of its deltas are not yet in the newest
     * version it has (bounded staleness): it waits for the reducer rather than race ahead on its
     * own, as it would when the reducer falls behind (at start, or while it writes a large version).
     */
    static final int MAX_PENDING = 2;

    /** How long a replica waits for the reducer's next version before the task fails. */
    private static final long MAX_WAIT_MILLIS = 120_000;

    private final Settings settings;
    private transient ModelSpec spec;
    private transient Map<String, Replica> replicas;
    private transient InternalTimerService<VoidNamespace> timers;
    private transient Counter trained;
    private transient Counter deltasSent;
    private transient Counter syncsApplied;
    private transient Counter syncBytes;
    private transient Counter waitedNanos;

    /** One model's replica on this subtask. */
    private final class Replica {
        final String key;
        final ReplicaRuntime rt;
        final SyncFollower follower;
        final List<TrainExample> buffer = new ArrayList<>();
        final List<TrainExample> waiting = new ArrayList<>();
        long bufferSince;
        long nextSync = Long.MAX_VALUE;
        int batchesSinceDelta;
        boolean resyncAsked;

        Replica(String key) {
            this.key = key;
            String model = ReplicaKeys.model(key);
            rt = new ReplicaRuntime(
                    model, ReplicaKeys.replica(key), spec, settings.train().seed());
            rt.model().useFakeNegativeWeights(settings.train().fakeNegativeWeights());
            follower = new SyncFollower(settings.bootstrap(), settings.syncTopic(), model, settings.client());
        }
    }

    public ReplicaOperator(Settings settings) {
        this.settings = settings;
    }

    @Override
    public void open() throws Exception {
        super.open();
        spec = SpecJson.read(settings.train().specJson());
        replicas = new LinkedHashMap<>();
        timers = getInternalTimerService("replica-timers", VoidNamespaceSerializer.INSTANCE, this);
        trained = getMetricGroup().counter("examples_trained");
        deltasSent = getMetricGroup().counter("deltas_sent");
        syncsApplied = getMetricGroup().counter("syncs_applied");
        syncBytes = getMetricGroup().counter("sync_bytes_sent");
        waitedNanos = getMetricGroup().counter("reducer_wait_nanos");
    }

    private Replica replica(String key) {
        Replica r = replicas.get(key);
        if (r == null) {
            r = new Replica(key);
            replicas.put(key, r);
            // Hello: the reducer answers with a full synchronization version.
            ModelDelta hello = ModelDelta.hello(r.rt.model, r.rt.replica);
            output.collect(new StreamRecord<>(hello));
            scheduleSync(r);
        }
        return r;
    }

    private void scheduleSync(Replica r) {
        long now = getProcessingTimeService().getCurrentProcessingTime();
        r.nextSync = now + Math.min(settings.syncIntervalMillis(), r.rt.ready() ? Long.MAX_VALUE : 50);
        timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, r.nextSync);
    }

    @Override
    public void processElement(StreamRecord<TrainExample> record) throws Exception {
        Replica r = replica((String) getCurrentKey());
        TrainExample e = record.getValue();
        if (!r.rt.ready()) {
            r.waiting.add(e);
            return;
        }
        add(r, e);
    }

    private void add(Replica r, TrainExample e) throws Exception {
        if (r.buffer.isEmpty()) {
            long now = getProcessingTimeService().getCurrentProcessingTime();
            r.bufferSince = now;
            timers.registerProcessingTimeTimer(
                    VoidNamespace.INSTANCE, now + settings.train().maxWaitMillis());
        }
        r.buffer.add(e);
        if (r.buffer.size() >= settings.train().batchSize()) {
            trainBuffered(r, false);
        }
    }

    private void trainBuffered(Replica r, boolean partial) throws InterruptedException {
        int batch = settings.train().batchSize();
        while (r.buffer.size() >= batch || (partial && !r.buffer.isEmpty())) {
            int n = Math.min(batch, r.buffer.size());
            List<TrainExample> take = new ArrayList<>(r.buffer.subList(0, n));
            r.buffer.subList(0, n).clear();
            // Onto the model's latest version first, when one has come.
            applyVersions(r);
            awaitVersion(r);
            SyncTraffic.batch(r.rt.examplesSeen());
            r.rt.train(take);
            SyncTraffic.TRAINED.add(n);
            trained.inc(n);
            if (++r.batchesSinceDelta >= settings.syncBatches()) {
                sendDelta(r);
            }
        }
    }

    /** Waits while the replica has more than {@link #MAX_PENDING} deltas the reducer's versions do not include. */
    private void awaitVersion(Replica r) throws InterruptedException {
        if (r.rt.pending() < MAX_PENDING) {
            return;
        }
        long t0 = System.nanoTime();
        while (r.rt.pending() >= MAX_PENDING) {
            if (System.nanoTime() - t0 > MAX_WAIT_MILLIS * 1_000_000) {
                throw new IllegalStateException("replica " + r.key + " got no version of the model from the sync topic "
                        + settings.syncTopic() + " including its deltas for " + MAX_WAIT_MILLIS / 1000 + " s");
            }
            Thread.sleep(1);
            applyVersions(r);
        }
        waitedNanos.inc(System.nanoTime() - t0);
    }

    /** Moves onto the versions the follower read; asks the reducer for a full one after a gap. */
    private void applyVersions(Replica r) {
        syncsApplied.inc(r.rt.apply(r.follower.drain()));
        if (r.rt.missedVersion() && !r.resyncAsked) {
            r.resyncAsked = true;
            output.collect(new StreamRecord<>(ModelDelta.resync(r.rt.model, r.rt.replica)));
        } else if (!r.rt.missedVersion()) {
            r.resyncAsked = false;
        }
    }

    private void sendDelta(Replica r) {
        r.batchesSinceDelta = 0;
        if (!r.rt.ready() || !r.rt.changed()) {
            return;
        }
        ModelDelta d = r.rt.delta();
        long bytes = 4L * (d.dense.length + d.denseState.length + d.rows.length) + 8L * d.rowKeys.length;
        syncBytes.inc(bytes);
        SyncTraffic.DELTA_BYTES.add(bytes);
        deltasSent.inc();
        output.collect(new StreamRecord<>(d));
    }

    @Override
    public void onEventTime(InternalTimer<String, VoidNamespace> timer) {
        // processing-time timers only
    }

    @Override
    public void onProcessingTime(InternalTimer<String, VoidNamespace> timer) throws Exception {
        Replica r = replicas.get(timer.getKey());
        if (r == null) {
            // A timer restored from a checkpoint, of a replica that has not started here since (its
            // first example starts it, with timers of its own) or of a key of another number of
            // replicas: starting a replica for it would give two replicas one index.
            return;
        }
        long now = getProcessingTimeService().getCurrentProcessingTime();
        if (r.rt.ready()
                && !r.buffer.isEmpty()
                && now - r.bufferSince >= settings.train().maxWaitMillis()) {
            trainBuffered(r, true);
        }
        if (now >= r.nextSync) {
            sync(r);
            scheduleSync(r);
        }
    }

    /** Sends what was learned since the last delta, then takes the model's latest version. */
    private void sync(Replica r) throws Exception {
        sendDelta(r);
        boolean wasReady = r.rt.ready();
        applyVersions(r);
        if (!wasReady && r.rt.ready()) {
            for (TrainExample e : r.waiting) {
                add(r, e);
            }
            r.waiting.clear();
        }
    }

    /**
     * Before a barrier every replica trains all it has received and sends its delta, so nothing of
     * a model or its examples is in this operator's state: a replica that is still waiting for its
     * first version waits for it here.
     */
    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        super.prepareSnapshotPreBarrier(checkpointId);
        flushAll();
    }

    @Override
    public void endInput() throws Exception {
        flushAll();
    }

    private void flushAll() throws Exception {
        for (Replica r : replicas.values()) {
            setCurrentKey(r.key);
            long deadline = System.currentTimeMillis() + MAX_WAIT_MILLIS;
            while (!r.rt.ready() && System.currentTimeMillis() < deadline) {
                sync(r);
                Thread.sleep(20);
            }
            if (!r.rt.ready()) {
                throw new IllegalStateException("replica " + r.key + " got no model from the sync topic "
                        + settings.syncTopic() + " within " + MAX_WAIT_MILLIS / 1000 + " s");
            }
            trainBuffered(r, true);
            sync(r);
        }
    }

    @Override
    public void close() throws Exception {
        if (replicas != null) {
            for (Replica r : replicas.values()) {
                r.follower.close();
            }
        }
        super.close();
    }
}
