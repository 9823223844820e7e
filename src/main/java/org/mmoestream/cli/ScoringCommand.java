package org.mmoestream.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.mmoestream.job.ScoringMain;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code mmoe scoring}: the scoring job against a given Kafka, on a local Flink cluster. */
@Command(name = "scoring", mixinStandardHelpOptions = true,
    description = {
      "Runs the scoring job (score-requests + broadcast model topic -> scores) against the Kafka of the",
      "job config. On a Flink cluster, submit target/mmoe-stream-all.jar with entry class",
      "org.mmoestream.job.ScoringMain and the arguments --config job.yaml."
    })
final class ScoringCommand implements Callable<Integer> {
  @Option(names = "--config", required = true, description = "job configuration (YAML)")
  Path config;

  @Option(names = "--flink-conf", defaultValue = "flink-conf", description = "directory of Flink's config.yaml (default: ${DEFAULT-VALUE})")
  Path flinkConf;

  @Option(names = "--parallelism", defaultValue = "0", description = "job parallelism (default: Flink's)")
  int parallelism;

  @Override
  public Integer call() throws Exception {
    ScoringMain.run(config, flinkConf, parallelism);
    return 0;
  }
}
