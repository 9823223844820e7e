package org.mmoestream.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import org.mmoestream.config.InputException;
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

    /**
     * The directory of Flink's {@code config.yaml}: {@code --flink-conf}, a relative one not found
     * here looked up under {@code MMOE_HOME} (set by {@code bin/mmoe}, so the default works from any
     * directory); a directory without {@code config.yaml} fails at start, since the jobs would run
     * without RocksDB and checkpoints, and the exactly-once sinks would never commit.
     */
    Path flinkConfDir() {
        Path dir = flinkConf;
        String home = System.getenv("MMOE_HOME");
        if (!dir.isAbsolute() && !Files.isDirectory(dir) && home != null) {
            dir = Path.of(home).resolve(dir);
        }
        if (!Files.isRegularFile(dir.resolve("config.yaml"))) {
            throw new InputException("--flink-conf " + flinkConf + ": no config.yaml there (Flink's configuration: the "
                    + "RocksDB state backend and checkpoints, which the jobs need).");
        }
        return dir;
    }
}
