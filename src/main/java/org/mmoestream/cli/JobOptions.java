package org.mmoestream.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The options shared by the commands that run a job: its config, Flink's config, parallelism. */
final class JobOptions {
    @Option(names = "--config", required = true, description = "job configuration (YAML); see the README's table")
    Path config;

    @Option(
            names = "--flink-conf",
            defaultValue = "flink-conf",
            description = "directory of Flink's config.yaml (default: ${DEFAULT-VALUE})")
    Path flinkConf;

    @Option(names = "--parallelism", defaultValue = "0", description = "job parallelism (default: Flink's)")
    int parallelism;
}
