package org.mmoestream.cli;

import java.util.concurrent.Callable;
import org.mmoestream.job.PipelineMain;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code mmoe pipeline}: join + train + publish against a given Kafka, on a local Flink cluster. */
@Command(
        name = "pipeline",
        header = "Runs the pipeline job: label join, online MMoE training, model versions.",
        mixinStandardHelpOptions = true,
        description = {
            "Runs the pipeline job (events -> label join -> online MMoE training -> model topic) against",
            "the Kafka named in the job config, on a local Flink cluster configured by flink-conf/.",
            "To run it on a Flink cluster, submit target/mmoe-stream-all.jar with entry class",
            "org.mmoestream.job.PipelineMain and the arguments --config job.yaml."
        })
final class PipelineCommand implements Callable<Integer> {
    @Mixin
    JobOptions job;

    @picocli.CommandLine.Option(
            names = "--bounded",
            description = "stop after the events present at start (the topics' end offsets then), e.g. after a replay")
    boolean bounded;

    @Override
    public Integer call() throws Exception {
        PipelineMain.run(job.config, job.flinkConfDir(), job.parallelism, bounded);
        return 0;
    }
}
