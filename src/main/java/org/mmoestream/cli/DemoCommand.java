package org.mmoestream.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.mmoestream.config.InputException;
import org.mmoestream.local.Demo;
import org.mmoestream.model.SpecLoader;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code mmoe demo}: the whole system on one machine, fed by the simulator. */
@Command(
        name = "demo",
        header = "Runs the whole system on this machine: Kafka, simulated events, both jobs, a report.",
        mixinStandardHelpOptions = true,
        description = {
            "Starts an embedded Kafka broker, writes simulated events, runs the pipeline job (label join, online",
            "MMoE training, model versions) and the scoring job on local Flink clusters with RocksDB and",
            "checkpoints, prints progress, and writes DIR/report.json and DIR/learning-curve.png. Ctrl-C stops it."
        })
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--events", defaultValue = "300000", description = "events to simulate (default: ${DEFAULT-VALUE})")
    long events;

    @Option(
            names = "--rate",
            defaultValue = "0",
            description = "impressions per second; 0 = as fast as the machine goes (default: ${DEFAULT-VALUE})")
    double rate;

    @Option(names = "--seed", defaultValue = "7", description = "simulator seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--out", defaultValue = "target/demo", description = "output directory (default: ${DEFAULT-VALUE})")
    Path out;

    @Option(
            names = "--train-parallelism",
            defaultValue = "1",
            description = "the pipeline's train.parallelism: subtasks that train the model; above 1 in "
                    + "arrival order (default: ${DEFAULT-VALUE})")
    int trainParallelism;

    @Option(
            names = "--train-threads",
            defaultValue = "1",
            description = "the pipeline's train.threads: threads that compute each training step (default: "
                    + "${DEFAULT-VALUE})")
    int trainThreads;

    @Option(
            names = "--spec",
            description = "model spec (default: examples/ctr-cvr.yaml of the project, "
                    + "examples/ctr-cvr-es-dfm.yaml with --feedback es-dfm)")
    Path spec;

    @Option(
            names = "--feedback",
            defaultValue = "defer",
            description =
                    "the pipeline's join.feedback, wait, fnw, fnc, defer, es-dfm or fnw-matched (es-dfm with the spec "
                            + "examples/ctr-cvr-es-dfm.yaml unless --spec names one, and an observation window of "
                            + "half the demo's click window); the early modes train in arrival order "
                            + "(default: ${DEFAULT-VALUE})")
    String feedback;

    @Option(
            names = "--history",
            defaultValue = "0",
            description = "simulated impressions trained offline first, as train-file --save does with a logged "
                    + "file; the pipeline then starts from that model (train.init-from) and goes on with the "
                    + "live events (default: ${DEFAULT-VALUE}, none)")
    long history;

    /** The project's {@code examples/ctr-cvr.yaml}: in the working directory, else under {@code MMOE_HOME}. */
    static Path defaultSpec() {
        return example("ctr-cvr.yaml");
    }

    /** The project's {@code examples/<name>}: in the working directory, else under {@code MMOE_HOME}. */
    static Path example(String name) {
        Path s = Path.of("examples", name);
        String home = System.getenv("MMOE_HOME");
        return !Files.exists(s) && home != null ? Path.of(home, "examples", name) : s;
    }

    @Override
    public Integer call() throws Exception {
        if (!java.util.List.of("wait", "fnw", "fnc", "defer", "es-dfm", "fnw-matched")
                .contains(feedback)) {
            throw new InputException(
                    "--feedback must be wait, fnw, fnc, defer, es-dfm or fnw-matched, not '" + feedback + "'.");
        }
        if (events < 1000 || rate < 0 || trainParallelism < 1 || trainThreads < 1 || history < 0) {
            throw new InputException("--events must be at least 1000, --rate and --history at least 0 and "
                    + "--train-parallelism and --train-threads at least 1.");
        }
        Path s = spec != null ? spec : feedback.equals("es-dfm") ? example("ctr-cvr-es-dfm.yaml") : defaultSpec();
        new Demo(
                        new Demo.Options(
                                events, rate, seed, out, SpecLoader.load(s), trainParallelism, feedback, history),
                        System.out)
                .withTrainThreads(trainThreads)
                .run();
        return 0;
    }
}
