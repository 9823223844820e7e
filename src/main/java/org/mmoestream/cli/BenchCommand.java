package org.mmoestream.cli;

import java.util.concurrent.Callable;
import org.mmoestream.bench.ModelBench;
import org.mmoestream.config.InputException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code mmoe bench}: benchmarks, each figure printed as {@code name value unit}. */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    description = {
      "Runs a benchmark and prints each figure as 'name value unit'.",
      "  model  training-step and forward-only throughput of the reference MMoE shape on one thread"
    })
final class BenchCommand implements Callable<Integer> {

  @Parameters(index = "0", paramLabel = "WHAT", description = "what to measure: model")
  String what;

  @Option(names = "--batches", split = ",", defaultValue = "1,32,256,1024", description = "batch sizes (default: ${DEFAULT-VALUE})")
  int[] batches;

  @Option(names = "--seconds", defaultValue = "6", description = "measuring time per figure (default: ${DEFAULT-VALUE})")
  double seconds;

  @Option(names = "--repeats", defaultValue = "5", description = "timed repeats per figure; the median is reported (default: ${DEFAULT-VALUE})")
  int repeats;

  @Override
  public Integer call() {
    if (!what.equals("model")) {
      throw new InputException("bench: unknown benchmark '" + what + "' (available: model).");
    }
    if (seconds <= 0 || repeats < 1) {
      throw new InputException("--seconds must be positive and --repeats at least 1.");
    }
    new ModelBench(seconds, repeats, System.out).run(batches);
    return 0;
  }
}
