package org.mmoestream.cli;

import java.util.concurrent.Callable;
import org.mmoestream.job.ScoringMain;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code mmoe scoring}: the scoring job against a given Kafka, on a local Flink cluster. */
@Command(
        name = "scoring",
        header = "Runs the scoring job: score requests with the latest model version.",
        mixinStandardHelpOptions = true,
        description = {
            "Runs the scoring job (score-requests + broadcast model topic -> scores) against the Kafka of the",
            "job config. On a Flink cluster, submit target/mmoe-stream-all.jar with entry class",
            "org.mmoestream.job.ScoringMain and the arguments --config job.yaml."
        })
final class ScoringCommand implements Callable<Integer> {
    @Mixin
    JobOptions job;

    @Override
    public Integer call() throws Exception {
        ScoringMain.run(job.config, job.flinkConfDir(), job.parallelism);
        return 0;
    }
}
