package org.mmoestream.job;

import java.nio.file.Path;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.mmoestream.config.InputException;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;

/** The scoring job against a real Kafka: entry class for {@code flink run}, and {@code bin/mmoe scoring}. */
public final class ScoringMain {
    private ScoringMain() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 2 || !args[0].equals("--config")) {
            throw new InputException("usage: ScoringMain --config job.yaml");
        }
        run(Path.of(args[1]), null, 0);
    }

    public static void run(Path config, Path flinkConfDir, int parallelism) throws Exception {
        JobConfig cfg = JobConfig.load(config);
        StreamExecutionEnvironment env = Environments.of(flinkConfDir, parallelism);
        String prefix = "mmoe-" + cfg.string(Key.GROUP_ID) + "-scoring";
        ScoringJob.buildOnKafka(env, cfg, prefix);
        env.execute("mmoe-scoring");
    }
}
