package org.mmoestream.cli;

import java.util.concurrent.Callable;
import org.mmoestream.bench.JoinBench;
import org.mmoestream.bench.ModelBench;
import org.mmoestream.bench.PipelineBench;
import org.mmoestream.bench.ScoreBench;
import org.mmoestream.bench.TrainBench;
import org.mmoestream.config.InputException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code mmoe bench}: benchmarks, each figure printed as {@code name value unit}. */
@Command(
        name = "bench",
        header = "Measures speed, quality or freshness and prints each figure as a name, value and unit.",
        mixinStandardHelpOptions = true,
        description = {
            "Runs a benchmark and prints each figure as 'name value unit'.",
            "  model  training-step and forward-only throughput of the reference MMoE shape on one thread",
            "         (--threads: the training step on several threads)",
            "  join   label-join throughput through Kafka -> Flink (RocksDB) -> Kafka, and state per pending request",
            "  pipeline  examples/s through Kafka -> join -> train -> publish on the reference shape, and freshness",
            "            (--paced R: live impressions at R/s, freshness below capacity)",
            "  train  trainer-bound: labeled examples already on Kafka -> train -> publish, against the model step",
            "         alone on the same examples (train.step_ratio); at --parallelism, with CPU time and held-out AUC",
            "  score  Scorer requests/s and latency at batch 1 and 256; the scoring job under open-loop load through",
            "         Kafka at --parallelism and --rates (cold start, fixed rates, and the "
                    + "highest rate with p99 under 100 ms)",
            "  rounds  quality of N replicas training in synchronous rounds against one trainer, in one process,",
            "          on the simulator's examples and the census-income file (--census)",
            "  soak  the pipeline and scoring jobs on the local multi-process cluster under steady load for --minutes,",
            "        a TaskManager killed with kill -9 every --kill-every minutes: nothing lost, nothing duplicated",
            "  feedback  label freshness: the same simulated days of drifting items through the label join in each",
            "            join.feedback mode (and the oracle), each impression scored by the model of its time",
            "  bias  position bias: the CTR/CVR model without the position, with it as an input, and with the bias",
            "        tower, ranked against position-free clicks on held-out impressions served without a position"
        })
final class BenchCommand implements Callable<Integer> {

    @Parameters(
            index = "0",
            paramLabel = "WHAT",
            description = "what to measure: model, join, pipeline, train, rounds, score, soak, feedback, bias")
    String what;

    @Option(
            names = "--batches",
            split = ",",
            defaultValue = "1,32,256,1024",
            description = "batch sizes (default: ${DEFAULT-VALUE})")
    int[] batches;

    @Option(names = "--seconds", description = "measuring time per figure (default: 6 for model, 20 for score)")
    Double seconds;

    @Option(
            names = "--repeats",
            defaultValue = "5",
            description = "timed repeats per figure; the median is reported (default: ${DEFAULT-VALUE})")
    int repeats;

    @Option(
            names = "--checkpoint-interval",
            defaultValue = "10 s",
            description = "train: Flink checkpoint interval (default: ${DEFAULT-VALUE}, as flink-conf/)")
    String checkpointInterval;

    @Option(
            names = "--optimizer",
            defaultValue = "adagrad",
            description = "train: the optimizer of the reference shape, adagrad or adam with their "
                    + "defaults (default: ${DEFAULT-VALUE})")
    String optimizer;

    @Option(
            names = "--examples",
            defaultValue = "800000",
            description = "train, rounds: labeled examples (default: ${DEFAULT-VALUE})")
    int examples;

    @Option(names = "--minutes", defaultValue = "10", description = "soak: minutes of load (default: ${DEFAULT-VALUE})")
    double minutes;

    @Option(
            names = "--kill-every",
            defaultValue = "2",
            description = "soak: minutes between kill -9 of a TaskManager (default: ${DEFAULT-VALUE})")
    double killEvery;

    @Option(
            names = "--event-rate",
            defaultValue = "1000",
            description = "soak: simulated impressions per second (default: ${DEFAULT-VALUE})")
    double eventRate;

    @Option(
            names = "--request-rate",
            defaultValue = "200",
            description = "soak: score requests per second (default: ${DEFAULT-VALUE})")
    double requestRate;

    @Option(
            names = "--data",
            defaultValue = "simulated",
            description = "train: simulated (the reference shape) or census (the census-income file at --census, "
                    + "its spec) (default: ${DEFAULT-VALUE})")
    String data;

    @Option(
            names = "--census",
            defaultValue = "../shared/data/census-income/keras-mmoe_census-income.test.gz",
            description = "rounds, train: the census-income file (default: ${DEFAULT-VALUE})")
    String census;

    @Option(
            names = "--average-every",
            split = ",",
            description = "rounds: also measure local SGD with model averaging (replicas with their own optimizer, "
                    + "a batch each per round, averaged every K rounds) for each K given (default: none)")
    int[] averageEvery;

    @Option(
            names = "--sum-every",
            split = ",",
            description = "rounds: also measure asynchronous deltas (replicas with their own optimizer, a batch each "
                    + "per round, every replica's change summed into the model every K rounds) for each K given "
                    + "(default: none)")
    int[] sumEvery;

    @Option(
            names = "--initial-accumulator",
            description = "rounds: Adagrad's initial accumulator in the simulated data's spec, for every N "
                    + "(default: the reference shape's 0)")
    Double initialAccumulator;

    @Option(
            names = "--cuts",
            split = ",",
            description = "rounds: also one trainer with K batches cut short at random places, --cut-runs runs, "
                    + "a partial batch's step the plain mean's and scaled by its share of a full batch, for each "
                    + "K given (default: none)")
    int[] cuts;

    @Option(
            names = "--cut-runs",
            defaultValue = "8",
            description = "rounds: runs per --cuts value (default: ${DEFAULT-VALUE})")
    int cutRuns;

    @Option(
            names = "--gradient-density",
            split = ",",
            description = "train, rounds: at N > 1, replicas sending this share of their dense gradient "
                    + "(train.gradient-density), each value given in turn; include 1 to measure every entry too "
                    + "(default: 1)")
    double[] gradientDensity;

    @Option(
            names = "--impressions",
            defaultValue = "200000",
            description = "join: impressions to join (default: ${DEFAULT-VALUE})")
    int impressions;

    @Option(
            names = "--parallelism",
            split = ",",
            defaultValue = "1,2",
            description = "join, pipeline, train, rounds, score: parallelisms to measure (default: ${DEFAULT-VALUE})")
    int[] parallelism;

    @Option(
            names = "--rates",
            split = ",",
            defaultValue = "1000,5000,20000",
            description = "score: request rates through Kafka (default: ${DEFAULT-VALUE})")
    int[] rates;

    @Option(names = "--no-search", description = "score: skip the search for the highest rate with p99 under 100 ms")
    boolean noSearch;

    @Option(
            names = "--batch-norm",
            description =
                    "model: the reference shape with model.batch_norm (figures model.bn_train..., model.bn_forward...)")
    boolean batchNorm;

    @Option(
            names = "--threads",
            split = ",",
            description = "model: also train on these numbers of threads per step (train.threads), with the CPU time "
                    + "per example of every thread of the step (figures model.threads<T>...); train: the job's "
                    + "train.threads")
    int[] threads;

    @Option(
            names = "--train-parallelism",
            defaultValue = "1",
            description =
                    "pipeline: the job's train.parallelism, subtasks that train each model (default: ${DEFAULT-VALUE})")
    int trainParallelism;

    @Option(
            names = "--train-threads",
            defaultValue = "1",
            description = "pipeline: the job's train.threads, threads that compute each training step "
                    + "(default: ${DEFAULT-VALUE})")
    int trainThreads;

    @Option(
            names = "--paced",
            split = ",",
            description = "pipeline: instead of a backlog, live impressions at these rates per second for "
                    + "45 s each, to measure freshness below capacity")
    int[] paced;

    @Option(
            names = "--modes",
            split = ",",
            defaultValue = "oracle,wait,fnw,fnc,defer,es-dfm,fnw-matched",
            description = "feedback: the modes to compare, oracle and join.feedback values (default: ${DEFAULT-VALUE})")
    java.util.List<String> modes;

    @Option(
            names = "--days",
            defaultValue = "4",
            description = "feedback: simulated days scored (default: ${DEFAULT-VALUE})")
    int days;

    @Option(
            names = "--warmup-days",
            defaultValue = "2",
            description = "feedback: simulated days each mode trains on before the scored ones, as a job that "
                    + "has been running (default: ${DEFAULT-VALUE}; 0: every mode starts cold)")
    int warmupDays;

    @Option(
            names = "--per-day",
            defaultValue = "100000",
            description = "feedback: impressions per simulated day (default: ${DEFAULT-VALUE})")
    int perDay;

    @Option(
            names = "--observation-window",
            defaultValue = "0 s",
            description = "feedback: join.observation-window of fnw, fnc and defer (defer above 0 s with the delay "
                    + "heads of the click and the conversion added to the spec; fnw-matched runs at 0 s) "
                    + "(default: ${DEFAULT-VALUE})")
    String observationWindow;

    @Option(
            names = "--spec",
            description = "feedback: the model spec (default: examples/ctr-cvr.yaml of the project); its tasks "
                    + "ctr and cvr are scored, ctcvr as their product without ESMM")
    java.nio.file.Path spec;

    @Option(
            names = "--elapsed-window",
            defaultValue = "15 min",
            description = "feedback: join.observation-window of es-dfm, the paper's elapsed-time window c "
                    + "(default: ${DEFAULT-VALUE})")
    String elapsedWindow;

    @Option(
            names = "--pipeline",
            description = "feedback: the events live through an embedded Kafka broker and the pipeline job "
                    + "(join, trainer, model topic) instead of in process; each impression scored by the "
                    + "version current at its event time; every mode but the oracle")
    boolean pipeline;

    @Option(
            names = "--hour-seconds",
            defaultValue = "1",
            description = "feedback --pipeline: wall-clock seconds per simulated hour (default: ${DEFAULT-VALUE})")
    double hourSeconds;

    @Override
    public Integer call() throws Exception {
        double secs = seconds != null ? seconds : what.equals("score") ? 20 : 6;
        if (secs <= 0 || repeats < 1 || impressions < 1 || trainParallelism < 1 || trainThreads < 1) {
            throw new InputException("--seconds must be positive, --repeats, --impressions, --train-parallelism and "
                    + "--train-threads at least 1.");
        }
        double[] densities = gradientDensity == null ? new double[] {1} : gradientDensity;
        if (densities.length == 0 || java.util.Arrays.stream(densities).anyMatch(d -> !(d > 0 && d <= 1))) {
            throw new InputException("--gradient-density must be above 0 and at most 1.");
        }
        switch (what) {
            case "model" ->
                new ModelBench(secs, repeats, System.out)
                        .withBatchNorm(batchNorm)
                        .withThreads(threads)
                        .run(batches);
            case "join" -> new JoinBench(impressions, System.out).run(parallelism);
            case "pipeline" -> {
                if (paced == null) {
                    new PipelineBench(impressions, trainParallelism, System.out)
                            .withTrainThreads(trainThreads)
                            .run(parallelism);
                } else {
                    new PipelineBench(impressions, trainParallelism, System.out)
                            .withTrainThreads(trainThreads)
                            .runPaced(parallelism, paced, 45);
                }
            }
            case "train" -> {
                if (!data.equals("simulated") && !data.equals("census")) {
                    throw new InputException("--data must be simulated or census, not '" + data + "'.");
                }
                if (!optimizer.equals("adagrad") && !optimizer.equals("adam")) {
                    throw new InputException("--optimizer must be adagrad or adam, not '" + optimizer + "'.");
                }
                new TrainBench(
                                examples,
                                checkpointInterval,
                                org.mmoestream.model.optim.OptimizerConfig.Kind.valueOf(
                                        optimizer.toUpperCase(java.util.Locale.ROOT)),
                                System.out)
                        .withThreads(threads)
                        .withGradientDensities(densities)
                        .run(parallelism, data.equals("census") ? java.nio.file.Path.of(census) : null);
            }
            case "rounds" -> {
                int[] every = averageEvery == null ? new int[0] : averageEvery;
                int[] sums = sumEvery == null ? new int[0] : sumEvery;
                atLeastOne("--average-every", every);
                atLeastOne("--sum-every", sums);
                if (initialAccumulator != null && !(initialAccumulator >= 0)) {
                    throw new InputException(
                            "--initial-accumulator must be at least 0, not " + initialAccumulator + ".");
                }
                if (cutRuns < 1
                        || (cuts != null && java.util.Arrays.stream(cuts).anyMatch(k -> k < 1))) {
                    throw new InputException("--cuts and --cut-runs must be at least 1.");
                }
                new org.mmoestream.bench.RoundsBench(examples, java.nio.file.Path.of(census), every, System.out)
                        .withGradientDensities(densities)
                        .withCuts(cuts == null ? new int[0] : cuts, cutRuns)
                        .withDeltaSums(sums)
                        .withInitialAccumulator(initialAccumulator == null ? Double.NaN : initialAccumulator)
                        .run(parallelism);
            }
            case "soak" -> {
                if (!(minutes > 0) || !(killEvery > 0) || !(eventRate > 0) || !(requestRate > 0)) {
                    throw new InputException(
                            "--minutes, --kill-every, --event-rate and --request-rate must be positive.");
                }
                java.nio.file.Path spec = DemoCommand.defaultSpec();
                new org.mmoestream.bench.SoakBench(
                                minutes,
                                killEvery,
                                eventRate,
                                requestRate,
                                org.mmoestream.model.SpecLoader.load(spec),
                                System.out)
                        .run();
            }
            case "score" -> new ScoreBench(secs, System.out).run(parallelism, rates, !noSearch);
            case "bias" -> new org.mmoestream.bench.BiasBench(examples, 0.8, System.out).run();
            case "feedback" -> {
                if (days < 2 || perDay < 1000 || warmupDays < 0) {
                    throw new InputException(
                            "--days must be at least 2, --per-day at least 1000 and --warmup-days at least 0.");
                }
                for (String m : modes) {
                    if (!m.equals("oracle")) {
                        try {
                            org.mmoestream.join.Feedback.parse(m);
                        } catch (IllegalArgumentException e) {
                            throw new InputException("--modes: '" + m
                                    + "' is not oracle, wait, fnw, fnc, defer, es-dfm or fnw-matched.");
                        }
                    }
                }
                long window = org.mmoestream.config.JobConfig.parseDuration(observationWindow, "--observation-window");
                long elapsed = org.mmoestream.config.JobConfig.parseDuration(elapsedWindow, "--elapsed-window");
                if (elapsed >= 30 * 60_000L || window >= 30 * 60_000L) {
                    throw new InputException("--observation-window and --elapsed-window must be below the simulated "
                            + "click window of 30 min.");
                }
                java.nio.file.Path file = spec != null ? spec : DemoCommand.defaultSpec();
                org.mmoestream.model.ModelSpec s = org.mmoestream.model.SpecLoader.load(file);
                if (s.taskIndex("ctr") < 0 || s.taskIndex("cvr") < 0) {
                    throw new InputException(
                            "--spec: bench feedback scores tasks named ctr and cvr, which " + file + " does not have.");
                }
                if (pipeline) {
                    if (!(hourSeconds > 0)) {
                        throw new InputException("--hour-seconds must be positive.");
                    }
                    new org.mmoestream.bench.FeedbackPipelineBench(
                                    warmupDays, days, perDay, hourSeconds, window, elapsed, System.out)
                            .run(s, modes);
                } else {
                    new org.mmoestream.bench.FeedbackBench(warmupDays, days, perDay, window, elapsed, System.out)
                            .run(s, modes);
                }
            }
            default ->
                throw new InputException("bench: unknown benchmark '" + what
                        + "' (available: model, join, pipeline, train, rounds, score, soak, feedback, bias).");
        }
        return 0;
    }

    /** Stops with one sentence naming {@code flag} when one of its {@code values} is below 1. */
    private static void atLeastOne(String flag, int[] values) {
        for (int k : values) {
            if (k < 1) {
                throw new InputException(flag + " must be at least 1, not " + k + ".");
            }
        }
    }
}
