package org.mmoestream.train;

import java.io.Serializable;
import java.util.ArrayDeque;
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
 * A replica of each model trained on several subtasks, keyed by replica key ({@link ReplicaKeys}).
 * Per round it computes the gradient of its share of the examples ({@code train.batch-size} / N of
 * them) on the model's current synchronization version ({@link ReplicaRuntime}) and sends it to the
 * reducer ({@link GradientReducer}), which takes one step on the round's shares and sends the next
 * version (a {@link SyncFollower} thread reads them from the sync topic); the replica computes its
 * next share on that version. A share goes when it is full, when its first example has waited
 * {@code train.max-wait}, before each checkpoint barrier and at the end of the input.
 *
 * <p>Nothing of a replica's model or examples is in state: before a barrier it sends shares of all
 * it has received (waiting for the versions it needs), which the reducer has taken in when the
 * barrier reaches it, so the checkpoint's model is complete and holds every example before the
 * barrier. After a restart, at any number of replicas, a replica starts over from the reducer's
 * full synchronization version.
 */
public class ReplicaOperator extends AbstractStreamOperator<ReplicaGradient>
        implements OneInputStreamOperator<TrainExample, ReplicaGradient>,
                BoundedOneInput,
                Triggerable<String, VoidNamespace> {
    private static final long serialVersionUID = 1L;

    /** What a replica needs: the trainer's settings, the number of replicas and where sync versions are. */
    public record Settings(
            TrainOperator.Settings train,
            ReplicaKeys keys,
            int replicas,
            String bootstrap,
            String syncTopic,
            Properties client)
            implements Serializable {
        /** Examples in a full share: the batch of one step, split over the replicas. */
        int shareSize() {
            return (train.batchSize() + replicas - 1) / replicas;
        }
    }

    /**
     * How long a replica waits for the reducer's next version before the task fails ({@code
     * train.sync-interval} must be shorter).
     */
    public static final long MAX_WAIT_MILLIS = 120_000;

    private final Settings settings;
    private transient ModelSpec spec;
    private transient Map<String, Replica> replicas;
    private transient InternalTimerService<VoidNamespace> timers;
    private transient Counter trained;
    private transient Counter sharesSent;
    private transient Counter versionsApplied;
    private transient Counter gradientBytes;
    private transient Counter waitedNanos;

    /** One model's replica on this subtask. */
    private final class Replica {
        final String key;
        final ReplicaRuntime rt;
        final SyncFollower follower;
        final ArrayDeque<TrainExample> buffer = new ArrayDeque<>();
        long bufferSince;
        /** Whether a share on the current version was sent (the next waits for a newer version). */
        boolean sent;

        boolean resyncAsked;

        Replica(String key) {
            this.key = key;
            String model = ReplicaKeys.model(key);
            rt = new ReplicaRuntime(
                    model, ReplicaKeys.replica(key), spec, settings.train().seed());
            rt.model().useFeedbackWeights(settings.train().feedbackWeights());
            rt.withGradientDensity(settings.train().gradientDensity());
            rt.withOutcomes(
                    settings.train().outcomeClickHorizonMillis(),
                    settings.train().outcomeHorizonMillis());
            follower = new SyncFollower(settings.bootstrap(), settings.syncTopic(), model, settings.client());
            // Last: a follower that fails to start leaves no threads behind.
            rt.model().useThreads(settings.train().threads());
        }

        /** Whether the replica can send a share now: it has a version it has sent none on. */
        boolean canSend() {
            return rt.ready() && !sent;
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
        sharesSent = getMetricGroup().counter("shares_sent");
        versionsApplied = getMetricGroup().counter("syncs_applied");
        gradientBytes = getMetricGroup().counter("gradient_bytes_sent");
        waitedNanos = getMetricGroup().counter("round_wait_nanos");
    }

    private Replica replica(String key) {
        Replica r = replicas.get(key);
        if (r == null) {
            r = new Replica(key);
            replicas.put(key, r);
            // Hello: the reducer answers with a full synchronization version.
            output.collect(new StreamRecord<>(ReplicaGradient.hello(r.rt.model, r.rt.replica)));
        }
        return r;
    }

    @Override
    public void processElement(StreamRecord<TrainExample> record) throws Exception {
        Replica r = replica((String) getCurrentKey());
        if (r.buffer.isEmpty()) {
            startWaiting(r);
        }
        r.buffer.add(record.getValue());
        advance(r, false);
    }

    private void startWaiting(Replica r) {
        long now = getProcessingTimeService().getCurrentProcessingTime();
        r.bufferSince = now;
        timers.registerProcessingTimeTimer(
                VoidNamespace.INSTANCE, now + settings.train().maxWaitMillis());
    }

    /**
     * Sends the shares that are due (full, waited {@code train.max-wait}, or all when {@code flush}),
     * each on a newer version than the last: when one is due and the replica has sent its share on
     * the version it has, it waits for the next (the reducer closes every round within {@code
     * train.sync-interval}).
     */
    private void advance(Replica r, boolean flush) throws InterruptedException {
        applyVersions(r, r.follower.drain());
        int share = settings.shareSize();
        while (!r.buffer.isEmpty()) {
            long now = getProcessingTimeService().getCurrentProcessingTime();
            boolean due = flush
                    || r.buffer.size() >= share
                    || now - r.bufferSince >= settings.train().maxWaitMillis();
            if (!due) {
                return;
            }
            if (!r.canSend()) {
                awaitVersion(r);
            }
            List<TrainExample> take = new ArrayList<>(Math.min(share, r.buffer.size()));
            while (take.size() < share && !r.buffer.isEmpty()) {
                take.add(r.buffer.poll());
            }
            // Every example before the watermark is in this share or an earlier one only when none waits.
            r.rt.outcomeClock = r.buffer.isEmpty() ? timers.currentWatermark() : Long.MIN_VALUE;
            ReplicaGradient g = r.rt.gradient(take);
            trained.inc(take.size());
            sharesSent.inc();
            SyncTraffic.SHARES.increment();
            send(r, g);
            if (!r.buffer.isEmpty() && r.buffer.size() < share) {
                startWaiting(r);
            }
        }
    }

    /** Sends {@code g}, computed on the replica's version: the next waits for a newer one. */
    private void send(Replica r, ReplicaGradient g) {
        r.sent = true;
        gradientBytes.inc(g.bytes());
        SyncTraffic.GRADIENT_BYTES.add(g.bytes());
        output.collect(new StreamRecord<>(g));
    }

    /** Waits for a version the replica has sent no share on (the reducer's next, or its first). */
    private void awaitVersion(Replica r) throws InterruptedException {
        long t0 = System.nanoTime();
        while (!r.canSend()) {
            if (System.nanoTime() - t0 > MAX_WAIT_MILLIS * 1_000_000) {
                throw new IllegalStateException("replica " + r.key + " got no new version of the model from the sync"
                        + " topic " + settings.syncTopic() + " for " + MAX_WAIT_MILLIS / 1000 + " s");
            }
            applyVersions(r, r.follower.await(10));
        }
        waitedNanos.inc(System.nanoTime() - t0);
    }

    /** Moves onto the versions the follower read; asks the reducer for a full one after a gap. */
    private void applyVersions(Replica r, List<byte[]> versions) {
        int n = r.rt.apply(versions);
        if (n > 0) {
            r.sent = false;
            versionsApplied.inc(n);
        }
        if (r.rt.missedVersion() && !r.resyncAsked) {
            r.resyncAsked = true;
            output.collect(new StreamRecord<>(ReplicaGradient.resync(r.rt.model, r.rt.replica)));
        } else if (!r.rt.missedVersion()) {
            r.resyncAsked = false;
        }
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
        advance(r, false);
    }

    /**
     * Before a barrier every replica sends shares of all it has received, so nothing of a model or
     * its examples is in this operator's state.
     */
    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        super.prepareSnapshotPreBarrier(checkpointId);
        flushAll();
    }

    @Override
    public void endInput() throws Exception {
        flushAll();
        // As the single trainer at the end of the input: the impressions still waiting for their
        // windows are measured now, in a pass (a share of no examples), since no later share will.
        for (Replica r : replicas.values()) {
            if (r.rt.outcomesPending()) {
                setCurrentKey(r.key);
                if (!r.canSend()) {
                    awaitVersion(r);
                }
                send(r, r.rt.measureRemaining());
            }
        }
    }

    /** Sends shares of all examples received, then what each replica held back of its gradients. */
    private void flushAll() throws Exception {
        for (Replica r : replicas.values()) {
            setCurrentKey(r.key);
            advance(r, true);
            if (r.rt.holdsBack()) {
                if (!r.canSend()) {
                    awaitVersion(r);
                }
                send(r, r.rt.sendHeldBack());
            }
        }
    }

    @Override
    public void close() throws Exception {
        Exception first = null;
        if (replicas != null) {
            // Every follower's consumer is closed, whatever one of them throws.
            for (Replica r : replicas.values()) {
                try {
                    r.rt.model().close();
                    r.follower.close();
                } catch (Exception e) {
                    if (first == null) {
                        first = e;
                    } else {
                        first.addSuppressed(e);
                    }
                }
            }
        }
        super.close();
        if (first != null) {
            throw first;
        }
    }
}
