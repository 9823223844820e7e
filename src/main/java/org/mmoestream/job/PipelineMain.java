package org.mmoestream.job;

import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.mmoestream.config.InputException;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.SpecLoader;

/**
 * The pipeline job against a real Kafka: {@code main} is the entry class for {@code flink run}
 * (the cluster's configuration applies), and {@link #run} serves {@code bin/mmoe pipeline} (the
 * project's {@code flink-conf/config.yaml} applies to a local cluster).
 */
public final class PipelineMain {
    private PipelineMain() {}

    /** {@code PipelineMain --config job.yaml}. */
    public static void main(String[] args) throws Exception {
        if (args.length != 2 || !args[0].equals("--config")) {
            throw new InputException("usage: PipelineMain --config job.yaml");
        }
        run(Path.of(args[1]), null, 0, false);
    }

    /**
     * Loads and validates the configuration and the spec, builds the graph on Kafka sources and
     * exactly-once sinks, and runs it until cancelled ({@code bounded}: until it has read the event
     * topics up to their end offsets at start, for replayed files).
     */
    public static void run(Path config, Path flinkConfDir, int parallelism, boolean bounded) throws Exception {
        JobConfig cfg = JobConfig.load(config);
        Path specPath = Path.of(cfg.string(Key.MODEL_SPEC));
        if (!specPath.isAbsolute() && config.getParent() != null && !Files.exists(specPath)) {
            specPath = config.getParent().resolve(specPath);
        }
        ModelSpec spec = SpecLoader.load(specPath);
        try {
            ExampleEncoder.requireEvents(spec);
        } catch (IllegalArgumentException e) {
            throw new InputException(specPath + ": " + e.getMessage() + ".");
        }
        StreamExecutionEnvironment env = Environments.of(flinkConfDir, parallelism);
        String prefix = "mmoe-" + cfg.string(Key.GROUP_ID);
        PipelineJob.build(
                env,
                cfg,
                spec,
                KafkaIo.events(cfg, bounded),
                KafkaIo.examples(cfg, prefix),
                KafkaIo.deadLetters(cfg, prefix),
                KafkaIo.modelSink(cfg, prefix));
        env.execute("mmoe-pipeline");
    }
}
