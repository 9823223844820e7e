package org.mmoestream.job;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.event.DeadLetter;
import org.mmoestream.event.Event;
import org.mmoestream.event.ParsedRecord;
import org.mmoestream.event.ScoreRecord;
import org.mmoestream.score.ModelSource;
import org.mmoestream.score.ScoringOperator;

/**
 * The scoring job's graph: score requests (validated like impressions; bad ones to dead-letter)
 * -> {@link ScoringOperator} -> scores, in one chain per parallel instance: no shuffle and no
 * network buffer between a request and its score. Each instance scores the requests of the
 * request-topic partitions it reads (give the topic at least as many partitions as the job has
 * instances), with every model, which it reads from {@code models} itself. Sources and sinks are
 * arguments.
 */
public final class ScoringJob {
    private ScoringJob() {}

    /**
     * The job on the Kafka of {@code cfg}: score requests and the model topic in, scores and dead
     * letters out, their transactional ids from {@code transactionalIdPrefix}.
     */
    public static DataStream<ScoreRecord> buildOnKafka(
            StreamExecutionEnvironment env, JobConfig cfg, String transactionalIdPrefix) {
        return build(
                env,
                cfg,
                KafkaIo.requests(cfg, false),
                KafkaIo.models(cfg),
                KafkaIo.scores(cfg, transactionalIdPrefix),
                KafkaIo.deadLetters(cfg, transactionalIdPrefix));
    }

    public static DataStream<ScoreRecord> build(
            StreamExecutionEnvironment env,
            JobConfig cfg,
            Source<ParsedRecord, ?, ?> requests,
            ModelSource models,
            Sink<ScoreRecord> scores,
            Sink<DeadLetter> deadLetters) {
        // Network edges (only the dead letters' here) ship their buffers after this long at most.
        env.setBufferTimeout(cfg.millis(Key.SCORING_BUFFER_TIMEOUT));
        // Records are not copied between the chained operators: none of them keeps or changes its input.
        env.getConfig().enableObjectReuse();
        SingleOutputStreamOperator<Event> valid = env.fromSource(
                        requests, WatermarkStrategy.noWatermarks(), "score-requests")
                .uid("score-requests-source")
                .process(new PipelineJob.SplitDeadLetters())
                .uid("validate-requests")
                .name("validate-requests");
        SingleOutputStreamOperator<ScoreRecord> scored = valid.transform(
                        "scorer", TypeInformation.of(ScoreRecord.class), new ScoringOperator(settings(cfg), models))
                .uid("scorer");
        scored.sinkTo(scores).uid("scores-sink").name("scores");
        DataStream<DeadLetter> dead =
                valid.getSideOutput(PipelineJob.DEAD_LETTERS).union(scored.getSideOutput(ScoringOperator.DEAD_LETTERS));
        dead.sinkTo(deadLetters).uid("scoring-dead-letter-sink").name("dead-letter");
        return scored;
    }

    /** The scoring operator's settings from the job configuration. */
    public static ScoringOperator.Settings settings(JobConfig cfg) {
        return new ScoringOperator.Settings(
                cfg.integer(Key.SCORING_BATCH_SIZE),
                cfg.millis(Key.SCORING_MAX_WAIT),
                cfg.millis(Key.SCORING_MAX_MODEL_AGE),
                cfg.integer(Key.SCORING_MAX_BUFFERED),
                cfg.millis(Key.SCORING_UNKNOWN_WAIT),
                cfg.millis(Key.SCORING_MODEL_WAIT),
                cfg.integer(Key.SCORING_WARM_UP),
                cfg.string(Key.TOPIC_SCORE_REQUESTS));
    }
}
