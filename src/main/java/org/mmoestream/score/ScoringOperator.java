package org.mmoestream.score;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.ThreadSafeSimpleCounter;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.util.OutputTag;
import org.mmoestream.event.DeadLetter;
import org.mmoestream.event.DeadLetterCounters;
import org.mmoestream.event.Event;
import org.mmoestream.event.ScoreRecord;
import org.mmoestream.feature.EncodedExample;

/**
 * Scores requests with the models of the model topic. Not keyed: every parallel instance scores
 * whatever requests reach it (the partitions of the request topic it reads), with every model,
 * which its own {@link ModelFollower} keeps current in a {@link Scorer}, off the task thread. The
 * model is thus broadcast to every instance through Kafka rather than through Flink state: no
 * checkpoint carries a copy of it (83 MB per instance for the reference shape), and no version is
 * decoded on the thread that scores.
 *
 * <p>Requests are scored in micro-batches: up to {@code batchSize}, or whatever came within {@code
 * maxWait} of the first; each request is encoded (which validates its features: a bad one goes to
 * the dead-letter output, naming the feature), and each model's rows go through one forward pass.
 * A request whose model has no version yet waits, in operator state across checkpoints, at most
 * {@code maxBuffered} per model and {@code unknownWait} long, then goes to the dead-letter output.
 * Before each checkpoint barrier the micro-batch is scored, so no other request is ever in state,
 * and a restored job re-reads the requests after its checkpoint from Kafka.
 *
 * <p>At start, the instance waits (at most {@code modelWait}) until the versions already on the
 * topic are installed, then warms the scoring path up (JIT) on synthetic requests of each model's
 * spec, so the first real requests do not pay for interpreted code.
 */
public final class ScoringOperator extends AbstractStreamOperator<ScoreRecord>
        implements OneInputStreamOperator<Event, ScoreRecord>, BoundedOneInput {
    private static final long serialVersionUID = 1L;

    /** Requests that could not be scored (bad features, unknown model, too many waiting). */
    public static final OutputTag<DeadLetter> DEAD_LETTERS =
            new OutputTag<>("scoring-dead-letters", TypeInformation.of(DeadLetter.class));

    /** How often waiting requests check for their model's first version. */
    private static final long WAIT_CHECK_MILLIS = 10;

    /** What the operator needs from the job configuration. */
    public record Settings(
            int batchSize,
            long maxWaitMillis,
            long maxAgeMillis,
            int maxBuffered,
            long unknownWaitMillis,
            long modelWaitMillis,
            int warmUpRequests,
            String requestTopic)
            implements Serializable {}

    private final Settings settings;
    private final ModelSource models;

    private transient Scorer scorer;
    private transient ModelFollower follower;
    private transient List<Event> batch;
    private transient boolean batchTimerSet;
    private transient Map<String, ArrayDeque<Event>> waiting;
    private transient Map<String, Long> waitingSince;
    private transient boolean waitTimerSet;
    private transient ListState<Event> waitingState;
    private transient Set<String> modelMetrics;
    private transient Counter scored;
    private transient Counter stale;
    private transient DeadLetterCounters deadLetters;

    private transient Counter rejectedRecords;
    private transient Histogram latency;

    public ScoringOperator(Settings settings, ModelSource models) {
        this.settings = settings;
        this.models = models;
    }

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        waitingState = context.getOperatorStateStore()
                .getListState(new ListStateDescriptor<>("waiting-requests", TypeInformation.of(Event.class)));
        waiting = new LinkedHashMap<>();
        waitingSince = new LinkedHashMap<>();
        long now = System.currentTimeMillis();
        for (Event e : waitingState.get()) {
            waiting.computeIfAbsent(e.model, k -> new ArrayDeque<>()).add(e);
            waitingSince.putIfAbsent(e.model, now);
        }
    }

    @Override
    public void open() throws Exception {
        super.open();
        batch = new ArrayList<>(settings.batchSize());
        modelMetrics = new HashSet<>();
        MetricGroup g = getMetricGroup();
        scored = g.counter("scores");
        stale = g.counter("stale_scores");
        deadLetters = new DeadLetterCounters(g);
        rejectedRecords = g.counter("model_records_rejected", new ThreadSafeSimpleCounter());
        latency = g.histogram("request_latency_ms", new DescriptiveStatisticsHistogram(10_000));
        g.gauge("requests_waiting", (Gauge<Integer>)
                () -> waiting.values().stream().mapToInt(ArrayDeque::size).sum());
        scorer = Scorer.empty();
        g.gauge("model_versions", (Gauge<String>) scorer::describe);
        follower = ModelFollower.start(
                models::open,
                scorer,
                r -> rejectedRecords.inc(),
                this::warmUp,
                Duration.ofMillis(settings.modelWaitMillis()));
        if (!follower.awaitCaughtUp(Duration.ofMillis(settings.modelWaitMillis()))) {
            LOG.warn(
                    "the model topic was not read to its end within {} ms; requests wait for their model",
                    settings.modelWaitMillis());
        }
        if (!waiting.isEmpty()) {
            scheduleWaitCheck();
        }
    }

    /** Runs on the follower's thread when a model's first version is installed. */
    private void warmUp(String model) {
        long t0 = System.nanoTime();
        int n = new WarmUp(scorer, model, settings.batchSize()).run(settings.warmUpRequests(), Duration.ofSeconds(10));
        LOG.info(
                "model '{}' v{} installed; scoring path warmed up with {} synthetic requests in {} ms",
                model,
                scorer.version(model),
                n,
                (System.nanoTime() - t0) / 1_000_000);
    }

    @Override
    public void processElement(StreamRecord<Event> record) throws Exception {
        batch.add(record.getValue());
        if (batch.size() >= settings.batchSize()) {
            flush();
        } else if (!batchTimerSet) {
            batchTimerSet = true;
            long now = getProcessingTimeService().getCurrentProcessingTime();
            getProcessingTimeService().registerTimer(now + settings.maxWaitMillis(), t -> {
                batchTimerSet = false;
                flush();
            });
        }
    }

    /** Scores the micro-batch: per model, one forward pass; requests of a model without a version wait. */
    private void flush() {
        if (batch.isEmpty()) {
            return;
        }
        long now = getProcessingTimeService().getCurrentProcessingTime();
        Map<String, List<Event>> byModel = new LinkedHashMap<>();
        for (Event e : batch) {
            byModel.computeIfAbsent(e.model, k -> new ArrayList<>()).add(e);
        }
        batch.clear();
        for (Map.Entry<String, List<Event>> m : byModel.entrySet()) {
            if (!score(m.getKey(), m.getValue(), now)) {
                for (Event e : m.getValue()) {
                    await(e, now);
                }
            }
        }
    }

    /** Scores {@code requests} of {@code model} in batches; false when the model has no version. */
    private boolean score(String model, List<Event> requests, long now) {
        try (Scorer.Lease lease = scorer.lease(model)) {
            if (lease == null) {
                return false;
            }
            registerModelMetrics(model);
            String[] heads = lease.heads().toArray(new String[0]);
            boolean isStale = settings.maxAgeMillis() > 0 && now - lease.createdAt() > settings.maxAgeMillis();
            List<Event> ok = new ArrayList<>(Math.min(requests.size(), settings.batchSize()));
            List<EncodedExample> rows = new ArrayList<>(ok.size());
            for (int from = 0; from < requests.size(); from += settings.batchSize()) {
                ok.clear();
                rows.clear();
                for (Event e : requests.subList(from, Math.min(requests.size(), from + settings.batchSize()))) {
                    try {
                        rows.add(lease.encode(e.features));
                        ok.add(e);
                    } catch (IllegalArgumentException ex) {
                        dead(e, DeadLetter.UNENCODABLE_REQUEST, ex.getMessage());
                    }
                }
                if (rows.isEmpty()) {
                    continue;
                }
                double[][] p = lease.predict(rows);
                for (int r = 0; r < ok.size(); r++) {
                    ScoreRecord s = new ScoreRecord();
                    Event e = ok.get(r);
                    s.requestId = e.requestId;
                    s.model = model;
                    s.modelVersion = lease.version();
                    s.heads = heads;
                    s.values = new double[heads.length];
                    for (int h = 0; h < heads.length; h++) {
                        s.values[h] = p[h][r];
                    }
                    s.scoredAt = now;
                    s.stale = isStale;
                    if (isStale) {
                        stale.inc();
                    }
                    scored.inc();
                    latency.update(Math.max(0, now - e.ts));
                    output.collect(new StreamRecord<>(s));
                }
            }
            return true;
        }
    }

    /** Keeps a request until its model has a version (bounded per model). */
    private void await(Event e, long now) {
        ArrayDeque<Event> q = waiting.computeIfAbsent(e.model, k -> new ArrayDeque<>());
        if (q.size() >= settings.maxBuffered()) {
            dead(
                    e,
                    DeadLetter.NO_MODEL,
                    "model '" + e.model + "' has no version yet and " + settings.maxBuffered()
                            + " requests already wait for it");
            return;
        }
        q.add(e);
        waitingSince.putIfAbsent(e.model, now);
        scheduleWaitCheck();
    }

    private void scheduleWaitCheck() {
        if (waitTimerSet) {
            return;
        }
        waitTimerSet = true;
        long now = getProcessingTimeService().getCurrentProcessingTime();
        getProcessingTimeService().registerTimer(now + WAIT_CHECK_MILLIS, t -> {
            waitTimerSet = false;
            checkWaiting(t);
            if (!waiting.isEmpty()) {
                scheduleWaitCheck();
            }
        });
    }

    /** Scores the waiting requests whose model has arrived; dead-letters those waiting too long. */
    private void checkWaiting(long now) {
        for (String model : new ArrayList<>(waiting.keySet())) {
            List<Event> requests = new ArrayList<>(waiting.get(model));
            if (score(model, requests, now)) {
                LOG.info("model '{}' arrived: scored {} requests that waited for it", model, requests.size());
            } else if (now - waitingSince.get(model) >= settings.unknownWaitMillis()) {
                for (Event e : requests) {
                    dead(
                            e,
                            DeadLetter.NO_MODEL,
                            "unknown model '" + model + "': no version arrived within " + settings.unknownWaitMillis()
                                    + " ms");
                }
            } else {
                continue;
            }
            waiting.remove(model);
            waitingSince.remove(model);
        }
    }

    private void dead(Event e, String kind, String reason) {
        deadLetters.count(kind);
        output.collect(
                DEAD_LETTERS,
                new StreamRecord<>(new DeadLetter(
                        settings.requestTopic(),
                        -1,
                        -1,
                        kind,
                        reason,
                        org.mmoestream.event.serde.JsonRecords.request(e).getBytes(StandardCharsets.UTF_8))));
    }

    private void registerModelMetrics(String model) {
        if (modelMetrics.add(model)) {
            MetricGroup g = getMetricGroup().addGroup("model", model);
            g.gauge("version", (Gauge<Long>) () -> scorer.version(model));
            g.gauge("age_ms", (Gauge<Long>) () -> System.currentTimeMillis() - scorer.createdAt(model));
        }
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        super.prepareSnapshotPreBarrier(checkpointId);
        flush();
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        List<Event> all = new ArrayList<>();
        waiting.values().forEach(all::addAll);
        waitingState.update(all);
    }

    @Override
    public void endInput() throws Exception {
        flush();
        long deadline = System.currentTimeMillis() + settings.unknownWaitMillis();
        while (!waiting.isEmpty()) {
            long now = System.currentTimeMillis();
            checkWaiting(now >= deadline ? Long.MAX_VALUE / 2 : now);
            if (!waiting.isEmpty()) {
                Thread.sleep(WAIT_CHECK_MILLIS);
            }
        }
    }

    @Override
    public void close() throws Exception {
        if (follower != null) {
            follower.close();
        }
        super.close();
    }

    /** The scorer of this instance (tests). */
    Scorer scorer() {
        return scorer;
    }
}
