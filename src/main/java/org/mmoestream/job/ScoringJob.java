package org.mmoestream.job;

import java.util.Map;
import java.util.Properties;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.streaming.api.datastream.BroadcastStream;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.event.DeadLetter;
import org.mmoestream.event.Event;
import org.mmoestream.event.ParsedRecord;
import org.mmoestream.event.serde.EventDeserializer;
import org.mmoestream.event.serde.RecordSerializers;
import org.mmoestream.publish.ModelChunk;
import org.mmoestream.score.ModelChunkDeserializer;
import org.mmoestream.score.ScoreRecord;
import org.mmoestream.score.ScoringFunction;

/**
 * The scoring job's graph: score requests (validated like impressions; bad ones to dead-letter),
 * keyed by model id, connected to the model topic as a broadcast stream, scored by {@link
 * ScoringFunction} into the scores sink. Sources and sinks are arguments.
 */
public final class ScoringJob {
  private ScoringJob() {}

  public static DataStream<ScoreRecord> build(StreamExecutionEnvironment env, JobConfig cfg,
      Source<ParsedRecord, ?, ?> requests, Source<ModelChunk, ?, ?> models, Sink<ScoreRecord> scores,
      Sink<DeadLetter> deadLetters) {
    SingleOutputStreamOperator<Event> valid = env
        .fromSource(requests, WatermarkStrategy.noWatermarks(), "score-requests")
        .uid("score-requests-source")
        .process(new PipelineJob.SplitDeadLetters())
        .uid("validate-requests")
        .name("validate-requests");
    BroadcastStream<ModelChunk> broadcast = env
        .fromSource(models, WatermarkStrategy.noWatermarks(), "model")
        .uid("model-source")
        .broadcast(ScoringFunction.MODELS);
    SingleOutputStreamOperator<ScoreRecord> scored = valid
        .keyBy(e -> e.model)
        .connect(broadcast)
        .process(new ScoringFunction(cfg.integer(Key.SCORING_BATCH_SIZE), cfg.millis(Key.SCORING_MAX_WAIT),
            cfg.millis(Key.SCORING_MAX_MODEL_AGE), cfg.integer(Key.SCORING_MAX_BUFFERED),
            cfg.millis(Key.SCORING_UNKNOWN_WAIT), cfg.string(Key.TOPIC_SCORE_REQUESTS)))
        .uid("scorer")
        .name("scorer");
    scored.sinkTo(scores).uid("scores-sink").name("scores");
    DataStream<DeadLetter> dead = valid.getSideOutput(PipelineJob.DEAD_LETTERS).union(scored.getSideOutput(ScoringFunction.DEAD_LETTERS));
    dead.sinkTo(deadLetters).uid("scoring-dead-letter-sink").name("dead-letter");
    return scored;
  }

  /** Score requests from Kafka; {@code bounded} stops at the latest offsets. */
  public static KafkaSource<ParsedRecord> kafkaRequests(JobConfig cfg, boolean bounded, Properties client) {
    var b = KafkaSource.<ParsedRecord>builder()
        .setBootstrapServers(cfg.string(Key.BOOTSTRAP))
        .setTopics(cfg.string(Key.TOPIC_SCORE_REQUESTS))
        .setGroupId(cfg.string(Key.GROUP_ID) + "-scoring")
        .setStartingOffsets(OffsetsInitializer.committedOffsets(org.apache.kafka.clients.consumer.OffsetResetStrategy.EARLIEST))
        .setDeserializer(new EventDeserializer(Map.of(cfg.string(Key.TOPIC_SCORE_REQUESTS), Event.IMPRESSION),
            cfg.integer(Key.MAX_RECORD_BYTES), cfg.millis(Key.MAX_FUTURE)))
        .setProperties(client);
    if (bounded) {
      b.setBounded(OffsetsInitializer.latest());
    }
    return b.build();
  }

  /** The model topic from its beginning (read_committed). */
  public static KafkaSource<ModelChunk> kafkaModels(JobConfig cfg, boolean bounded, Properties client) {
    var b = KafkaSource.<ModelChunk>builder()
        .setBootstrapServers(cfg.string(Key.BOOTSTRAP))
        .setTopics(cfg.string(Key.TOPIC_MODEL))
        .setGroupId(cfg.string(Key.GROUP_ID) + "-scoring-models")
        .setStartingOffsets(OffsetsInitializer.earliest())
        .setDeserializer(new ModelChunkDeserializer())
        .setProperties(client)
        .setProperty("isolation.level", "read_committed")
        .setProperty("max.partition.fetch.bytes", String.valueOf(16 * 1024 * 1024));
    if (bounded) {
      b.setBounded(OffsetsInitializer.latest());
    }
    return b.build();
  }

  /** Sink of scores (JSON, keyed by request id), with the guarantee of {@code scoring.delivery}. */
  public static KafkaSink<ScoreRecord> kafkaScores(JobConfig cfg, String prefix, Properties client) {
    Properties p = new Properties();
    p.putAll(client);
    p.setProperty("transaction.timeout.ms", String.valueOf(cfg.millis(Key.TRANSACTION_TIMEOUT)));
    return KafkaSink.<ScoreRecord>builder()
        .setBootstrapServers(cfg.string(Key.BOOTSTRAP))
        .setRecordSerializer(KafkaRecordSerializationSchema.<ScoreRecord>builder()
            .setTopic(cfg.string(Key.TOPIC_SCORES))
            .setKeySerializationSchema(new RecordSerializers.ScoreKey())
            .setValueSerializationSchema(new RecordSerializers.ScoreValue())
            .build())
        .setDeliveryGuarantee(cfg.string(Key.SCORING_DELIVERY).equals("exactly-once")
            ? DeliveryGuarantee.EXACTLY_ONCE : DeliveryGuarantee.AT_LEAST_ONCE)
        .setTransactionalIdPrefix(prefix + "-scores")
        .setKafkaProducerConfig(p)
        .build();
  }

  static TypeInformation<ScoreRecord> type() {
    return TypeInformation.of(ScoreRecord.class);
  }
}
