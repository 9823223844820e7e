package org.mmoestream.job;

import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.event.DeadLetter;
import org.mmoestream.event.DeadLetterCounters;
import org.mmoestream.event.Event;
import org.mmoestream.event.LabeledExample;
import org.mmoestream.event.ParsedRecord;
import org.mmoestream.event.serde.EventDeserializer;
import org.mmoestream.join.AttributionPolicy;
import org.mmoestream.join.Feedback;
import org.mmoestream.join.LabelJoinFunction;
import org.mmoestream.join.RecentDelays;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.codec.SpecJson;
import org.mmoestream.publish.ModelChunk;
import org.mmoestream.train.EncodeExamples;
import org.mmoestream.train.GradientReducer;
import org.mmoestream.train.ReplicaGradient;
import org.mmoestream.train.ReplicaKeys;
import org.mmoestream.train.ReplicaOperator;
import org.mmoestream.train.TrainExample;
import org.mmoestream.train.TrainOperator;

/**
 * The pipeline job's graph: events -> validation (bad records to the dead-letter sink) -> label
 * join keyed by request id -> labeled examples -> encoding (examples that cannot be encoded to the
 * dead-letter sink) -> trainer keyed by model id ({@link TrainOperator}; with {@code
 * train.parallelism} N > 1, N replicas and a reducer) -> model versions. {@link #build} builds it
 * all, {@link #buildJoin} the join alone. Sources and sinks are arguments, so tests, benchmarks and
 * the demo run the same graph on embedded I/O; {@link KafkaIo} builds the production ones.
 */
public final class PipelineJob {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(PipelineJob.class);

    /** Records that failed validation leave the main stream through this side output. */
    public static final OutputTag<DeadLetter> DEAD_LETTERS =
            new OutputTag<>("dead-letters", TypeInformation.of(DeadLetter.class));

    private PipelineJob() {}

    /**
     * Builds join and trainer: events -> validation -> label join -> trainer (keyed by model id) ->
     * {@code models}; {@code examples} (may be null) also receives the labeled examples.
     */
    public static DataStream<LabeledExample> build(
            StreamExecutionEnvironment env,
            JobConfig cfg,
            ModelSpec spec,
            Source<ParsedRecord, ?, ?> events,
            Sink<LabeledExample> examples,
            Sink<DeadLetter> deadLetters,
            Sink<ModelChunk> models) {
        Joined joined = join(env, cfg, events, examples);
        // Examples are encoded in the tasks that make them; those that cannot be are dead letters too.
        SingleOutputStreamOperator<TrainExample> encoded = joined.labeled()
                .process(new EncodeExamples(SpecJson.write(spec)))
                .uid("encode-examples")
                .name("encode-examples");
        joined.deadLetters()
                .union(encoded.getSideOutput(EncodeExamples.REJECTED))
                .sinkTo(deadLetters)
                .uid("dead-letter-sink")
                .name("dead-letter");
        train(cfg, spec, encoded, models);
        return joined.labeled();
    }

    /**
     * The trainer: encoded examples -> trainer (keyed by model id) -> {@code models}. With {@code
     * train.parallelism} N > 1: encoded examples -> N replicas per model ({@link ReplicaOperator}) ->
     * gradients of their shares of each round -> reducer keyed by model id ({@link GradientReducer},
     * the trainer's uid and state) -> {@code models}, and synchronization versions -> the sync topic,
     * which the replicas read.
     */
    public static void train(JobConfig cfg, ModelSpec spec, DataStream<TrainExample> encoded, Sink<ModelChunk> models) {
        int n = cfg.integer(Key.TRAIN_PARALLELISM);
        TrainOperator.Settings settings = trainSettings(cfg, spec);
        if (n == 1) {
            encoded.keyBy(e -> e.model)
                    .transform("train", TypeInformation.of(ModelChunk.class), new TrainOperator(settings))
                    .uid("trainer")
                    .sinkTo(models)
                    .uid("model-sink")
                    .name("model");
            return;
        }
        requireParallelTraining(cfg, spec);
        ReplicaKeys keys = new ReplicaKeys(n);
        SingleOutputStreamOperator<ReplicaGradient> shares = encoded.keyBy(keys)
                .transform(
                        "train-replica",
                        TypeInformation.of(ReplicaGradient.class),
                        new ReplicaOperator(new ReplicaOperator.Settings(
                                settings,
                                keys,
                                n,
                                cfg.string(Key.BOOTSTRAP),
                                cfg.string(Key.TOPIC_TRAIN_SYNC),
                                cfg.clientProperties())))
                .uid("train-replicas")
                // A share is one large record that the round waits for: send it at once, not at the next buffer
                // timeout.
                .setBufferTimeout(0)
                .setParallelism(n)
                .setMaxParallelism(ReplicaKeys.MAX_REPLICAS);
        SingleOutputStreamOperator<ModelChunk> versions = shares.keyBy(g -> g.model)
                .transform(
                        "train",
                        TypeInformation.of(ModelChunk.class),
                        new GradientReducer(settings, cfg.millis(Key.SYNC_INTERVAL)))
                .uid("trainer");
        versions.sinkTo(models).uid("model-sink").name("model");
        versions.getSideOutput(GradientReducer.SYNC)
                .sinkTo(KafkaIo.syncSink(cfg, "mmoe-" + cfg.string(Key.GROUP_ID)))
                .uid("train-sync-sink")
                .name("train-sync");
    }

    /**
     * The snapshot file of {@code train.init-from}, or null; checked at start (it must be a readable
     * full snapshot here; on a cluster, every TaskManager reads it at the same path).
     */
    static String initFrom(JobConfig cfg, ModelSpec spec) {
        String file = cfg.string(Key.INIT_FROM);
        if (file.equals("none")) {
            return null;
        }
        org.mmoestream.train.TrainOperator.checkInitFrom(file, spec);
        return file;
    }

    /** The join's feedback mode; fails with one sentence on a setting it cannot run with. */
    static Feedback feedback(JobConfig cfg) {
        Feedback f = Feedback.parse(cfg.string(Key.FEEDBACK));
        if (f.early() && cfg.string(Key.ORDER).equals("event-time")) {
            throw new org.mmoestream.config.InputException(Key.FEEDBACK.yaml() + " " + f + " needs " + Key.ORDER.yaml()
                    + ": arrival (event-time order holds every example until its windows close).");
        }
        if (f.early() && !cfg.bool(Key.DROP_CONVERSIONS_WITHOUT_CLICK)) {
            throw new org.mmoestream.config.InputException(Key.FEEDBACK.yaml() + " " + f + " needs "
                    + Key.DROP_CONVERSIONS_WITHOUT_CLICK.yaml() + ": true (an early mode trains a conversion "
                    + "only as the positive that follows its click).");
        }
        if (f == Feedback.FNW_MATCHED && cfg.millis(Key.OBSERVATION_WINDOW) > 0) {
            throw new org.mmoestream.config.InputException(Key.FEEDBACK.yaml() + " fnw-matched needs "
                    + Key.OBSERVATION_WINDOW.yaml() + ": 0 s (it sends every impression as a negative of the click "
                    + "at once).");
        }
        if (f != Feedback.FNW_MATCHED && cfg.millis(Key.CONVERSION_DELAY_PRIOR) > 0) {
            throw new org.mmoestream.config.InputException(Key.CONVERSION_DELAY_PRIOR.yaml() + " is for "
                    + Key.FEEDBACK.yaml() + " fnw-matched, the only mode that draws conversion delays, not " + f
                    + ".");
        }
        int sample = cfg.integer(Key.CONVERSION_DELAY_SAMPLE);
        if (sample > RecentDelays.MAX_SIZE) {
            throw new org.mmoestream.config.InputException(Key.CONVERSION_DELAY_SAMPLE.yaml() + " " + sample
                    + " is above the most a join keeps, " + RecentDelays.MAX_SIZE + ".");
        }
        if (f.early() && cfg.millis(Key.OBSERVATION_WINDOW) >= cfg.millis(Key.CLICK_WINDOW)) {
            throw new org.mmoestream.config.InputException(Key.OBSERVATION_WINDOW.yaml() + " "
                    + cfg.text(Key.OBSERVATION_WINDOW) + " must be shorter than " + Key.CLICK_WINDOW.yaml() + " "
                    + cfg.text(Key.CLICK_WINDOW) + ".");
        }
        return f;
    }

    /**
     * Fails with one sentence when the spec has an elapsed feature ({@code features.sparse[].elapsed})
     * and {@code join.feedback} is not {@code fnw-matched}, the one mode whose positives and fake
     * negatives reach training at delays of the same distribution (in every other one an example's
     * wait tells its label).
     */
    public static void requireElapsedFeatures(Feedback f, ModelSpec spec) {
        for (org.mmoestream.feature.SparseFeature feature : spec.features().sparse()) {
            if (feature.elapsed() && f != Feedback.FNW_MATCHED) {
                throw new org.mmoestream.config.InputException(Key.MODEL_SPEC.yaml() + " has the elapsed feature "
                        + feature.name() + ", which needs " + Key.FEEDBACK.yaml() + " fnw-matched: under " + f
                        + " the hours an example waits for training tell its label.");
            }
        }
    }

    /**
     * Fails with one sentence when {@code join.feedback: es-dfm} has no task with both delay heads
     * in the spec, {@code defer} at an observation window above 0 lacks the delayed head of a task
     * it weights, or another mode has delay heads (which only those emissions train).
     */
    public static void requireDelayHeads(Feedback f, long observationWindow, ModelSpec spec) {
        boolean heads =
                spec.tasks().stream().anyMatch(t -> t.delayRole() != org.mmoestream.model.TaskSpec.DelayRole.LABEL);
        if (f == Feedback.ES_DFM && !spec.objective().hasDelayHeads()) {
            throw new org.mmoestream.config.InputException(
                    Key.FEEDBACK.yaml() + " es-dfm needs " + Key.MODEL_SPEC.yaml()
                            + " to have, for the click or the conversion, tasks of events <event>_delayed and "
                            + "<event>_real_negative (the delay heads that weight that event's tasks).");
        }
        int[] delayed = spec.delayHeads(org.mmoestream.model.TaskSpec.DelayRole.DELAYED);
        int[] realNegative = spec.delayHeads(org.mmoestream.model.TaskSpec.DelayRole.REAL_NEGATIVE);
        for (int h = 0; h < spec.tasks().size(); h++) {
            org.mmoestream.model.TaskSpec head = spec.tasks().get(h);
            int index = h;
            boolean weights = head.delayRole() == org.mmoestream.model.TaskSpec.DelayRole.LABEL
                    || java.util.stream.IntStream.range(0, delayed.length)
                            .anyMatch(t -> delayed[t] == index || realNegative[t] == index);
            if (!weights) {
                throw new org.mmoestream.config.InputException(Key.MODEL_SPEC.yaml() + " has task " + head.name()
                        + ", a delay head of event " + head.event() + ", but no task of event " + head.baseEvent()
                        + " for it to weight.");
            }
        }
        if (f == Feedback.FNW_MATCHED) {
            for (int t = 0; t < spec.tasks().size(); t++) {
                org.mmoestream.model.TaskSpec task = spec.tasks().get(t);
                if (maskedWithoutEsmm(spec, t)) {
                    // The conversion's fake negatives carry no click: a masked task would read them as clicked.
                    throw new org.mmoestream.config.InputException(Key.FEEDBACK.yaml() + " fnw-matched needs ESMM "
                            + "for task " + task.name() + ", which is masked by " + task.maskedBy()
                            + " (the conversion's fake negatives are over every impression).");
                }
            }
        }
        boolean deferWindow = f == Feedback.DEFER && observationWindow > 0;
        if (deferWindow) {
            for (int t = 0; t < delayed.length; t++) {
                org.mmoestream.model.TaskSpec task = spec.tasks().get(t);
                boolean weighted = task.delayWeighted();
                if (weighted && delayed[t] < 0) {
                    throw new org.mmoestream.config.InputException(Key.FEEDBACK.yaml() + " defer at "
                            + Key.OBSERVATION_WINDOW.yaml() + " above 0 needs " + Key.MODEL_SPEC.yaml()
                            + " to have a task of event " + task.event() + org.mmoestream.model.TaskSpec.DELAYED
                            + " (the delayed head that weights task " + task.name() + ").");
                }
                if (weighted && maskedWithoutEsmm(spec, t)) {
                    // The delayed head is over every impression; a task over clicked ones would
                    // weigh its rows with the wrong population's share, and see its repeats as news.
                    throw new org.mmoestream.config.InputException(Key.FEEDBACK.yaml() + " defer at "
                            + Key.OBSERVATION_WINDOW.yaml() + " above 0 needs ESMM for task " + task.name()
                            + ", which is masked by " + task.maskedBy() + " (its delayed head is over every "
                            + "impression).");
                }
            }
        }
        if (f != Feedback.ES_DFM && !deferWindow && heads) {
            throw new org.mmoestream.config.InputException(Key.MODEL_SPEC.yaml() + " has ES-DFM delay heads "
                    + "(tasks of event *_delayed or *_real_negative), which only " + Key.FEEDBACK.yaml()
                    + " es-dfm and defer at " + Key.OBSERVATION_WINDOW.yaml() + " above 0 train, not " + f
                    + (f == Feedback.DEFER ? " at 0 s." : "."));
        }
    }

    /** Whether task {@code t} of {@code spec} is masked by the click and is not ESMM's conversion task. */
    private static boolean maskedWithoutEsmm(ModelSpec spec, int t) {
        return spec.tasks().get(t).maskedBy() != null && t != spec.esmmConversionTask();
    }

    /**
     * The spec the trainer trains under {@code join.feedback: f}: with fnc the served probabilities
     * are calibrated for fake negatives, and the spec every version carries says so.
     */
    public static ModelSpec trainedSpec(Feedback f, ModelSpec spec) {
        return f == Feedback.FNC ? spec.withArchitecture(spec.architecture().withFakeNegativeCalibration(true)) : spec;
    }

    /**
     * Event time (ms) after an impression by which the trainer knows its click: the click window and
     * the disorder the watermarks allow. An early mode's progressive metrics measure the click's
     * tasks then ({@code train.Outcomes}).
     */
    public static long clickHorizon(JobConfig cfg) {
        return cfg.millis(Key.CLICK_WINDOW) + cfg.millis(Key.OUT_OF_ORDERNESS);
    }

    /** As {@link #clickHorizon}, for every label: the click and conversion windows and the disorder. */
    public static long labelHorizon(JobConfig cfg) {
        return clickHorizon(cfg) + cfg.millis(Key.CONVERSION_WINDOW);
    }

    /** The row weights of the trainer under {@code join.feedback: f}. */
    public static org.mmoestream.model.Objective.Weights feedbackWeights(Feedback f) {
        return switch (f) {
            case FNW, FNW_MATCHED -> org.mmoestream.model.Objective.Weights.FAKE_NEGATIVE;
            case DEFER -> org.mmoestream.model.Objective.Weights.DEFER;
            case ES_DFM -> org.mmoestream.model.Objective.Weights.ES_DFM;
            default -> org.mmoestream.model.Objective.Weights.NONE;
        };
    }

    /** Fails with one sentence when a model cannot be trained on several subtasks. */
    static void requireParallelTraining(JobConfig cfg, ModelSpec spec) {
        int n = cfg.integer(Key.TRAIN_PARALLELISM);
        if (n > ReplicaKeys.MAX_REPLICAS) {
            throw new org.mmoestream.config.InputException(Key.TRAIN_PARALLELISM.yaml() + " " + n + " is more than the "
                    + ReplicaKeys.MAX_REPLICAS + " replicas a model can have.");
        }
        if (cfg.millis(Key.SYNC_INTERVAL) >= org.mmoestream.train.ReplicaOperator.MAX_WAIT_MILLIS) {
            throw new org.mmoestream.config.InputException(Key.SYNC_INTERVAL.yaml() + " " + cfg.text(Key.SYNC_INTERVAL)
                    + " must be shorter than the " + org.mmoestream.train.ReplicaOperator.MAX_WAIT_MILLIS / 1000
                    + " s a replica waits for the next version before it fails.");
        }
        String sync = cfg.string(Key.TOPIC_TRAIN_SYNC);
        for (Key<String> other : List.of(
                Key.TOPIC_IMPRESSIONS,
                Key.TOPIC_CLICKS,
                Key.TOPIC_CONVERSIONS,
                Key.TOPIC_EXAMPLES,
                Key.TOPIC_DEAD_LETTER,
                Key.TOPIC_MODEL)) {
            if (cfg.string(other).equals(sync)) {
                throw new org.mmoestream.config.InputException(Key.TOPIC_TRAIN_SYNC.yaml() + " '" + sync
                        + "' must be a topic of its own, not also " + other.yaml() + ".");
            }
        }
        if (cfg.string(Key.ORDER).equals("event-time")) {
            throw new org.mmoestream.config.InputException(Key.TRAIN_PARALLELISM.yaml() + " " + n + " needs "
                    + Key.ORDER.yaml() + ": arrival (event-time order is one sequence, on one subtask).");
        }
        if (spec.architecture().batchNorm()) {
            throw new org.mmoestream.config.InputException(Key.TRAIN_PARALLELISM.yaml() + " "
                    + n + " cannot train a spec with model.batch_norm: the "
                    + "running statistics are kept by the pass that trains, which the reducer does not run.");
        }
        long rows = spec.features().sparse().stream()
                .mapToLong(org.mmoestream.feature.SparseFeature::buckets)
                .sum();
        if (rows > cfg.integer(Key.WORKING_SET_ROWS)) {
            throw new org.mmoestream.config.InputException(Key.TRAIN_PARALLELISM.yaml() + " " + n
                    + " needs every embedding row in memory: the spec has " + rows + " rows, more than "
                    + Key.WORKING_SET_ROWS.yaml() + " " + cfg.integer(Key.WORKING_SET_ROWS) + ".");
        }
    }

    /** {@code train.threads}, which a spec with batch normalization cannot use. */
    static int threads(JobConfig cfg, ModelSpec spec) {
        int threads = cfg.integer(Key.TRAIN_THREADS);
        if (threads > 64) {
            throw new org.mmoestream.config.InputException(
                    Key.TRAIN_THREADS.yaml() + " " + threads + " is more than the 64 threads a step can use.");
        }
        if (threads > 1 && spec.architecture().batchNorm()) {
            throw new org.mmoestream.config.InputException(Key.TRAIN_THREADS.yaml() + " " + threads
                    + " cannot train a spec with model.batch_norm: its running statistics change in every "
                    + "training pass, which the threads would run at once.");
        }
        return threads;
    }

    /** The trainer's settings from the job configuration. */
    public static TrainOperator.Settings trainSettings(JobConfig cfg, ModelSpec spec) {
        List<String> probes = List.of();
        String file = cfg.string(Key.PROBES);
        if (!file.equals("none")) {
            try {
                probes = java.nio.file.Files.readAllLines(java.nio.file.Path.of(file)).stream()
                        .filter(l -> !l.isBlank())
                        .toList();
            } catch (java.io.IOException e) {
                throw new org.mmoestream.config.InputException(Key.PROBES.yaml() + ": cannot read " + file + ".");
            }
        }
        Feedback feedback = feedback(cfg);
        spec = trainedSpec(feedback, spec);
        requireDelayHeads(feedback, cfg.millis(Key.OBSERVATION_WINDOW), spec);
        requireElapsedFeatures(feedback, spec);
        return TrainOperator.Settings.of(SpecJson.write(spec))
                .withSeed(cfg.integer(Key.SEED))
                .withBatchSize(cfg.integer(Key.BATCH_SIZE))
                .withThreads(threads(cfg, spec))
                .withGradientDensity(cfg.number(Key.GRADIENT_DENSITY))
                .withMaxWait(cfg.millis(Key.MAX_WAIT))
                .withPublishInterval(cfg.millis(Key.PUBLISH_INTERVAL))
                .withFullEvery(cfg.integer(Key.FULL_EVERY))
                .withMaxMessageBytes(cfg.integer(Key.MAX_MESSAGE_BYTES))
                .withWorkingSetRows(cfg.integer(Key.WORKING_SET_ROWS))
                .withMetricsWindow(cfg.integer(Key.METRICS_WINDOW))
                .withProbes(probes)
                .withOrderHorizon(
                        cfg.string(Key.ORDER).equals("event-time")
                                ? cfg.millis(Key.CLICK_WINDOW) + cfg.millis(Key.CONVERSION_WINDOW)
                                : 0)
                .withFeedbackWeights(feedbackWeights(feedback))
                .withOutcomeHorizons(feedback.early() ? clickHorizon(cfg) : 0, feedback.early() ? labelHorizon(cfg) : 0)
                .withInitFrom(initFrom(cfg, spec));
    }

    /** Builds the join only: events -> validation -> label join -> {@code examples} (may be null). */
    public static DataStream<LabeledExample> buildJoin(
            StreamExecutionEnvironment env,
            JobConfig cfg,
            Source<ParsedRecord, ?, ?> events,
            Sink<LabeledExample> examples,
            Sink<DeadLetter> deadLetters) {
        Joined joined = join(env, cfg, events, examples);
        joined.deadLetters().sinkTo(deadLetters).uid("dead-letter-sink").name("dead-letter");
        return joined.labeled();
    }

    /** The labeled examples of the join and the records that failed validation. */
    private record Joined(SingleOutputStreamOperator<LabeledExample> labeled, DataStream<DeadLetter> deadLetters) {}

    private static Joined join(
            StreamExecutionEnvironment env,
            JobConfig cfg,
            Source<ParsedRecord, ?, ?> events,
            Sink<LabeledExample> examples) {
        WatermarkStrategy<ParsedRecord> watermarks = WatermarkStrategy.<ParsedRecord>forBoundedOutOfOrderness(
                        cfg.duration(Key.OUT_OF_ORDERNESS))
                // A dead letter carries no trustworthy event time: it must not move the watermark.
                .withTimestampAssigner((r, kafkaTs) -> r.event != null ? r.event.ts : Long.MIN_VALUE)
                .withIdleness(cfg.duration(Key.SOURCE_IDLENESS));
        SingleOutputStreamOperator<Event> valid = env.fromSource(events, watermarks, "events")
                .uid("events-source")
                .process(new SplitDeadLetters())
                .uid("validate")
                .name("validate");
        Feedback feedback = feedback(cfg);
        if (feedback == Feedback.WAIT && cfg.string(Key.ORDER).equals("arrival")) {
            LOG.warn(
                    "{}: wait with {}: arrival trains each impression only once its labels are final, in runs "
                            + "of one kind, so the versions' progressive metrics read higher than the model serves "
                            + "(see the README's Fresh labels); {}: event-time or an early {} (defer) measures them "
                            + "honestly",
                    Key.FEEDBACK.yaml(),
                    Key.ORDER.yaml(),
                    Key.ORDER.yaml(),
                    Key.FEEDBACK.yaml());
        }
        AttributionPolicy policy = new AttributionPolicy(
                cfg.millis(Key.CLICK_WINDOW),
                cfg.millis(Key.CONVERSION_WINDOW),
                cfg.millis(Key.ORPHAN_WAIT),
                cfg.millis(Key.DEDUP_RETENTION),
                cfg.bool(Key.DROP_CONVERSIONS_WITHOUT_CLICK),
                feedback,
                cfg.millis(Key.OBSERVATION_WINDOW));
        policy.conversionDelaySample(cfg.integer(Key.CONVERSION_DELAY_SAMPLE));
        if (cfg.millis(Key.CONVERSION_DELAY_PRIOR) > 0) {
            policy.conversionDelayPrior(cfg.millis(Key.CONVERSION_DELAY_PRIOR));
        }
        SingleOutputStreamOperator<LabeledExample> labeled = valid.keyBy(e -> e.requestId)
                .process(new LabelJoinFunction(policy))
                .uid("label-join")
                .name("label-join");
        if (examples != null) {
            labeled.sinkTo(examples).uid("examples-sink").name("examples");
        }
        return new Joined(labeled, valid.getSideOutput(DEAD_LETTERS));
    }

    /**
     * Sends dead letters to the side output and counts them ({@code dead_letters}, and by kind in
     * the group {@code reason}).
     */
    public static final class SplitDeadLetters extends ProcessFunction<ParsedRecord, Event> {
        private static final long serialVersionUID = 1L;
        private transient DeadLetterCounters deadLetters;

        @Override
        public void open(org.apache.flink.api.common.functions.OpenContext ctx) {
            deadLetters = new DeadLetterCounters(getRuntimeContext().getMetricGroup());
        }

        @Override
        public void processElement(ParsedRecord r, Context ctx, Collector<Event> out) {
            if (r.event != null) {
                out.collect(r.event);
            } else {
                deadLetters.count(r.deadLetter.kind);
                ctx.output(DEAD_LETTERS, r.deadLetter);
            }
        }
    }

    /** The validating deserializer of the three event topics. */
    public static EventDeserializer eventDeserializer(JobConfig cfg) {
        return new EventDeserializer(topicTypes(cfg), cfg.integer(Key.MAX_RECORD_BYTES), cfg.millis(Key.MAX_FUTURE));
    }

    static Map<String, Byte> topicTypes(JobConfig cfg) {
        return Map.of(
                cfg.string(Key.TOPIC_IMPRESSIONS),
                Event.IMPRESSION,
                cfg.string(Key.TOPIC_CLICKS),
                Event.CLICK,
                cfg.string(Key.TOPIC_CONVERSIONS),
                Event.CONVERSION);
    }
}
