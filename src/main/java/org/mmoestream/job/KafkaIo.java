package org.mmoestream.job;

import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.event.DeadLetter;
import org.mmoestream.event.Event;
import org.mmoestream.event.LabeledExample;
import org.mmoestream.event.ParsedRecord;
import org.mmoestream.event.ScoreRecord;
import org.mmoestream.event.serde.EventDeserializer;
import org.mmoestream.event.serde.RecordSerializers;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.codec.SpecJson;
import org.mmoestream.publish.ModelChunk;
import org.mmoestream.publish.ModelRecords;
import org.mmoestream.score.ModelSource;
import org.mmoestream.train.ExamplesTopicDeserializer;
import org.mmoestream.train.TrainExample;

/**
 * Every Kafka source and sink of both jobs, built in one place: the {@code kafka.client.*}
 * properties (security) reach each of them, sources read committed records only and start from
 * the group's committed offsets (else the earliest), and sinks are exactly-once (transactions
 * committed with each checkpoint, {@code kafka.transaction-timeout}) except the scores sink, whose
 * guarantee is {@code scoring.delivery}.
 */
public final class KafkaIo {
    private KafkaIo() {}

    /** The three event topics as one source; {@code bounded} stops at the latest offsets. */
    public static KafkaSource<ParsedRecord> events(JobConfig cfg, boolean bounded) {
        return events(cfg, bounded, PipelineJob.eventDeserializer(cfg));
    }

    /** As {@link #events(JobConfig, boolean)} with a given deserializer (tests wrap it). */
    public static KafkaSource<ParsedRecord> events(
            JobConfig cfg, boolean bounded, KafkaRecordDeserializationSchema<ParsedRecord> deserializer) {
        List<String> topics = List.of(
                        cfg.string(Key.TOPIC_IMPRESSIONS),
                        cfg.string(Key.TOPIC_CLICKS),
                        cfg.string(Key.TOPIC_CONVERSIONS))
                .stream()
                .sorted()
                .toList();
        return source(cfg, topics, cfg.string(Key.GROUP_ID), deserializer, bounded, Map.of());
    }

    /** Score requests, validated as impressions; the consumer tuned for latency ({@code scoring.*}). */
    public static KafkaSource<ParsedRecord> requests(JobConfig cfg, boolean bounded) {
        return requests(cfg, bounded, requestDeserializer(cfg));
    }

    /** The validating deserializer of score requests (the impression schema). */
    public static EventDeserializer requestDeserializer(JobConfig cfg) {
        return new EventDeserializer(
                Map.of(cfg.string(Key.TOPIC_SCORE_REQUESTS), Event.IMPRESSION),
                cfg.integer(Key.MAX_RECORD_BYTES),
                cfg.millis(Key.MAX_FUTURE));
    }

    /** As {@link #requests(JobConfig, boolean)} with a given deserializer (tests wrap it). */
    public static KafkaSource<ParsedRecord> requests(
            JobConfig cfg, boolean bounded, KafkaRecordDeserializationSchema<ParsedRecord> d) {
        String topic = cfg.string(Key.TOPIC_SCORE_REQUESTS);
        return source(
                cfg,
                List.of(topic),
                cfg.string(Key.GROUP_ID) + "-scoring",
                d,
                bounded,
                Map.of("fetch.max.wait.ms", String.valueOf(cfg.millis(Key.SCORING_FETCH_MAX_WAIT))));
    }

    /**
     * The examples topic (labeled examples, JSON) as encoded examples of {@code spec}, to train from
     * it; {@code bounded} stops at its end.
     */
    public static KafkaSource<TrainExample> examplesSource(JobConfig cfg, ModelSpec spec, boolean bounded) {
        return source(
                cfg,
                List.of(cfg.string(Key.TOPIC_EXAMPLES)),
                cfg.string(Key.GROUP_ID) + "-examples",
                new ExamplesTopicDeserializer(SpecJson.write(spec)),
                bounded,
                Map.of());
    }

    /** Where the scoring job's instances read model versions: the model topic, from its beginning. */
    public static ModelSource models(JobConfig cfg) {
        return ModelSource.kafka(cfg.string(Key.BOOTSTRAP), cfg.string(Key.TOPIC_MODEL), cfg.clientProperties());
    }

    /** Model versions (chunked safetensors with headers), exactly-once. */
    public static KafkaSink<ModelChunk> modelSink(JobConfig cfg, String transactionalIdPrefix) {
        return sink(
                cfg,
                new ModelRecords(cfg.string(Key.TOPIC_MODEL)),
                DeliveryGuarantee.EXACTLY_ONCE,
                transactionalIdPrefix + "-model",
                Map.of("max.request.size", String.valueOf(cfg.integer(Key.MAX_MESSAGE_BYTES) + 64 * 1024)));
    }

    /**
     * The reducer's synchronization versions for the replicas of a model trained on several subtasks
     * (chunked, with the model topic's headers), at least once: the replicas read them uncommitted
     * and chain deltas by their base, so a repeat after a restart does no harm.
     */
    public static KafkaSink<ModelChunk> syncSink(JobConfig cfg, String transactionalIdPrefix) {
        return sink(
                cfg,
                new ModelRecords(cfg.string(Key.TOPIC_TRAIN_SYNC)),
                DeliveryGuarantee.AT_LEAST_ONCE,
                transactionalIdPrefix + "-sync",
                Map.of(
                        "max.request.size",
                        String.valueOf(cfg.integer(Key.MAX_MESSAGE_BYTES) + 64 * 1024),
                        "linger.ms",
                        "0",
                        // Versions of a megabyte or more: the kernel sizes the socket buffer (autotuning).
                        "send.buffer.bytes",
                        "-1"));
    }

    /** Labeled examples (JSON, keyed by request id), exactly-once. */
    public static KafkaSink<LabeledExample> examples(JobConfig cfg, String transactionalIdPrefix) {
        return sink(
                cfg,
                new RecordSerializers.Examples(cfg.string(Key.TOPIC_EXAMPLES)),
                DeliveryGuarantee.EXACTLY_ONCE,
                transactionalIdPrefix,
                Map.of());
    }

    /** Dead letters (JSON), exactly-once. */
    public static KafkaSink<DeadLetter> deadLetters(JobConfig cfg, String transactionalIdPrefix) {
        return sink(
                cfg,
                KafkaRecordSerializationSchema.<DeadLetter>builder()
                        .setTopic(cfg.string(Key.TOPIC_DEAD_LETTER))
                        .setValueSerializationSchema(new RecordSerializers.DeadLetterValue())
                        .build(),
                DeliveryGuarantee.EXACTLY_ONCE,
                transactionalIdPrefix + "-dlq",
                Map.of());
    }

    /**
     * Scores (JSON, keyed by request id) with the guarantee of {@code scoring.delivery}; the producer
     * tuned for latency ({@code scoring.producer-linger}, {@code scoring.producer-acks}).
     */
    public static KafkaSink<ScoreRecord> scores(JobConfig cfg, String transactionalIdPrefix) {
        boolean exactlyOnce = cfg.string(Key.SCORING_DELIVERY).equals("exactly-once");
        return sink(
                cfg,
                KafkaRecordSerializationSchema.<ScoreRecord>builder()
                        .setTopic(cfg.string(Key.TOPIC_SCORES))
                        .setKeySerializationSchema(new RecordSerializers.ScoreKey())
                        .setValueSerializationSchema(new RecordSerializers.ScoreValue())
                        .build(),
                exactlyOnce ? DeliveryGuarantee.EXACTLY_ONCE : DeliveryGuarantee.AT_LEAST_ONCE,
                transactionalIdPrefix + "-scores",
                Map.of(
                        "linger.ms",
                        String.valueOf(cfg.millis(Key.SCORING_PRODUCER_LINGER)),
                        "acks",
                        exactlyOnce ? "all" : cfg.string(Key.SCORING_PRODUCER_ACKS)));
    }

    private static <T> KafkaSource<T> source(
            JobConfig cfg,
            List<String> topics,
            String groupId,
            KafkaRecordDeserializationSchema<T> deserializer,
            boolean bounded,
            Map<String, String> extra) {
        var b = KafkaSource.<T>builder()
                .setBootstrapServers(cfg.string(Key.BOOTSTRAP))
                .setTopics(topics)
                .setGroupId(groupId)
                .setStartingOffsets(OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST))
                .setDeserializer(deserializer)
                .setProperties(cfg.clientProperties())
                .setProperty("isolation.level", "read_committed");
        extra.forEach(b::setProperty);
        if (bounded) {
            b.setBounded(OffsetsInitializer.latest());
        }
        return b.build();
    }

    private static <T> KafkaSink<T> sink(
            JobConfig cfg,
            KafkaRecordSerializationSchema<T> schema,
            DeliveryGuarantee guarantee,
            String transactionalIdPrefix,
            Map<String, String> extra) {
        Properties p = cfg.clientProperties();
        p.setProperty("transaction.timeout.ms", String.valueOf(cfg.millis(Key.TRANSACTION_TIMEOUT)));
        p.putAll(extra);
        return KafkaSink.<T>builder()
                .setBootstrapServers(cfg.string(Key.BOOTSTRAP))
                .setRecordSerializer(schema)
                .setDeliveryGuarantee(guarantee)
                .setTransactionalIdPrefix(transactionalIdPrefix)
                .setKafkaProducerConfig(p)
                .build();
    }
}
