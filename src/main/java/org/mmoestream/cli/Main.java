package org.mmoestream.cli;

import java.io.PrintWriter;
import org.mmoestream.config.InputException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * Entry point of {@code bin/mmoe}. Exit status: 0 on success, 2 on bad usage, configuration or
 * input (with one sentence naming it), 1 on any other failure.
 */
@Command(
        name = "mmoe",
        mixinStandardHelpOptions = true,
        version = "mmoe-stream 0.1.0",
        description = "Online multi-task (MMoE) ranking model training on Flink and Kafka.",
        subcommands = {
            DemoCommand.class,
            TrainFileCommand.class,
            PipelineCommand.class,
            ModelCommand.class,
            SimulateCommand.class,
            ReplayCommand.class,
            KafkaCommand.class,
            ScoringCommand.class,
            BenchCommand.class,
            CommandLine.HelpCommand.class
        })
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is required");
    }

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs the command line and returns the exit status. */
    public static int execute(String... args) {
        return execute(new PrintWriter(System.err, true), args);
    }

    /** Runs the command line with error messages going to {@code err} (for tests). */
    public static int execute(PrintWriter err, String... args) {
        CommandLine cl = commandLine();
        cl.setErr(err);
        return cl.execute(args);
    }

    /**
     * The command line with its exit statuses: an {@link InputException} prints its one sentence
     * and exits 2, anything else prints the failure and its stack trace and exits 1.
     */
    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, line, parseResult) -> {
            PrintWriter out = line.getErr();
            if (ex instanceof InputException) {
                out.println("mmoe: " + ex.getMessage());
                return 2;
            }
            out.println("mmoe: failed: " + (ex.getMessage() == null ? ex.toString() : ex.getMessage()));
            ex.printStackTrace(out);
            return 1;
        });
        return cl;
    }
}
