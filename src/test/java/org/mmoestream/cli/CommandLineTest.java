package org.mmoestream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.config.InputException;
import org.mmoestream.config.JobConfig;
import org.mmoestream.testing.CtrCvrCsv;
import picocli.CommandLine;

/**
 * The command line as a new user meets it: every command's help, and bad job configurations that
 * stop {@code pipeline} and {@code scoring} at start with exit status 2 and one sentence naming the
 * key, before they touch Kafka or Flink.
 */
class CommandLineTest {
    @TempDir
    Path dir;

    private record Run(int status, String out, String err) {}

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int status = cl.execute(args);
        return new Run(status, out.toString(), err.toString().trim());
    }

    @Test
    void everyCommandHasHelpThatBeginsWithAWholeSentence() {
        Run top = run("--help");
        assertEquals(0, top.status(), top.err());
        CommandLine cl = Main.commandLine();
        for (Map.Entry<String, CommandLine> sub : cl.getSubcommands().entrySet()) {
            if (sub.getKey().equals("help")) {
                continue;
            }
            String[] header = sub.getValue().getCommandSpec().usageMessage().header();
            assertTrue(header.length == 1 && header[0].endsWith("."), sub.getKey() + " has a one-sentence header");
            Run r = run(sub.getKey(), "--help");
            assertEquals(0, r.status(), sub.getKey() + " --help: " + r.err());
            assertTrue(r.out().startsWith(header[0].substring(0, 20)), sub.getKey() + " --help starts with its header");
        }
    }

    @Test
    void aBadJobConfigStopsPipelineAndScoringWithStatus2() throws Exception {
        Path cfg = dir.resolve("job.yaml");
        Files.writeString(cfg, "join:\n  click-window: soon\n");
        for (String command : List.of("pipeline", "scoring")) {
            Run r = run(command, "--config", cfg.toString());
            assertEquals(2, r.status(), command + ": " + r.err());
            assertEquals(1, r.err().lines().count(), "one line: " + r.err());
            assertTrue(r.err().contains("join.click-window") && r.err().contains("soon"), r.err());
        }
        Run r = run("pipeline", "--config", dir.resolve("missing.yaml").toString());
        assertEquals(2, r.status(), r.err());
    }

    /** A bad flag of {@code bench feedback} stops it with status 2 and one sentence naming it. */
    @Test
    void aBadFeedbackBenchFlagStopsWithStatus2() {
        assertEachStopsWithOneSentence("feedback", new String[][] {
            {"--warmup-days", "-1"}, {"--days", "1"}, {"--elapsed-window", "40 min"}, {"--modes", "later"}
        });
    }

    /** A bad flag of {@code bench rounds} stops it with status 2 and one sentence naming it, before any work. */
    @Test
    void aBadRoundsBenchFlagStopsWithStatus2() {
        assertEachStopsWithOneSentence("rounds", new String[][] {
            {"--average-every", "0"}, {"--sum-every", "4,0"}, {"--initial-accumulator", "-0.1"}, {"--cuts", "0"}
        });
    }

    /** {@code bench <bench> <flag> <value>} for each pair exits with status 2 and one line naming the flag. */
    private void assertEachStopsWithOneSentence(String bench, String[][] flags) {
        for (String[] flag : flags) {
            Run r = run("bench", bench, flag[0], flag[1]);
            assertEquals(2, r.status(), String.join(" ", flag) + ": " + r.err());
            assertEquals(1, r.err().lines().count(), "one line: " + r.err());
            assertTrue(r.err().contains(flag[0]), r.err());
        }
    }

    /**
     * A job whose spec changed a table's shape cannot start from an old snapshot: {@code pipeline}
     * stops at start with status 2 and one sentence naming the tensor (issue 18).
     */
    @Test
    void aSnapshotWhoseTableChangedShapeStopsThePipelineWithStatus2() throws Exception {
        Path csv = CtrCvrCsv.write(dir.resolve("history.csv"), 64);
        Path old = dir.resolve("old.safetensors");
        Run train = run(
                "train-file",
                "--spec",
                "examples/ctr-cvr.yaml",
                "--train",
                csv.toString(),
                "--save",
                old.toString(),
                "--out",
                dir.resolve("r.json").toString());
        assertEquals(0, train.status(), train.err());
        Path spec = dir.resolve("wider.yaml");
        Files.writeString(
                spec,
                Files.readString(Path.of("examples/ctr-cvr.yaml"))
                        .replace("{name: device, buckets: 16, dim: 4}", "{name: device, buckets: 16, dim: 6}"));
        Path cfg = dir.resolve("job.yaml");
        Files.writeString(cfg, "model.spec: " + spec + "\ntrain.init-from: " + old + "\n");
        Run r = run("pipeline", "--config", cfg.toString());
        assertEquals(2, r.status(), r.err());
        assertEquals(1, r.err().lines().count(), "one line: " + r.err());
        assertTrue(
                r.err().contains("embedding.device.weight is [16, 4]")
                        && r.err().contains("[16, 6]"),
                r.err());
    }

    /**
     * Keys whose value is free text: a file path (accepted until the file is read) or a Kafka
     * consumer group id (any string is one).
     */
    private static final Set<String> FREE_TEXT =
            Set.of("model.spec", "train.probes", "train.init-from", "kafka.group-id");

    @Test
    void everyKeyRejectsAValueItCannotUseWithOneSentenceNamingIt() {
        List<String> accepted = new ArrayList<>();
        for (String[] row : JobConfig.table()) {
            String key = row[0];
            if (FREE_TEXT.contains(key)) {
                continue;
            }
            try {
                JobConfig.of(Map.of(key, "no such value!"));
                accepted.add(key);
            } catch (InputException e) {
                assertTrue(e.getMessage().contains(key) && e.getMessage().endsWith("."), e.getMessage());
            }
        }
        assertEquals(List.of(), accepted, "keys that accepted 'no such value!'");
    }
}
