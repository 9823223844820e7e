package org.mmoestream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.testing.CommandRun;
import org.mmoestream.testing.KafkaBroker;

/**
 * The commands a user runs against Kafka, as commands (exit status and output), on an embedded
 * broker: {@code simulate} writes events, {@code replay} a labeled file, {@code pipeline --bounded}
 * trains on them on a local Flink cluster (flink-conf/), {@code model inspect} lists the versions and
 * {@code model export} writes the current one, which has trained on every impression written.
 */
class CommandsITCase {
    @RegisterExtension
    static final KafkaBroker KAFKA = new KafkaBroker();

    @TempDir
    Path dir;

    private static CommandRun run(String... args) {
        return CommandRun.of(args);
    }

    @Test
    void simulateReplayPipelineInspectAndExport() throws Exception {
        String bootstrap = KAFKA.bootstrapServers();
        KAFKA.createTopics(
                Map.of("impressions", 2, "clicks", 2, "conversions", 2, "examples", 2, "dead-letter", 1, "model", 1));
        CommandRun sim = run("simulate", "--bootstrap", bootstrap, "--impressions", "3000", "--malformed", "0.002");
        assertEquals(0, sim.status(), sim.err());

        Path csv = dir.resolve("history.csv");
        StringBuilder rows = new StringBuilder("user,item,device,price,click,conversion\n");
        for (int i = 0; i < 200; i++) {
            int click = i % 3 == 0 ? 1 : 0;
            rows.append("u")
                    .append(i % 40)
                    .append(",i")
                    .append(i % 17)
                    .append(",d")
                    .append(i % 3)
                    .append(',')
                    .append(10 + i % 50)
                    .append(',')
                    .append(click)
                    .append(',')
                    .append(click == 1 && i % 2 == 0 ? 1 : 0)
                    .append('\n');
        }
        Files.writeString(csv, rows);
        CommandRun replay = run(
                "replay",
                "--bootstrap",
                bootstrap,
                "--spec",
                "examples/ctr-cvr.yaml",
                "--csv",
                csv.toString(),
                "--model",
                "history");
        assertEquals(0, replay.status(), replay.err());

        Path job = dir.resolve("job.yaml");
        Files.writeString(
                job,
                String.join(
                        "\n",
                        "kafka:",
                        "  bootstrap-servers: " + bootstrap,
                        "  group-id: commands-it",
                        "model:",
                        "  spec: " + Path.of("examples/ctr-cvr.yaml").toAbsolutePath(),
                        "publish:",
                        "  interval: 1 s",
                        ""));
        CommandRun pipeline = run("pipeline", "--config", job.toString(), "--bounded");
        assertEquals(0, pipeline.status(), pipeline.err());

        CommandRun inspect = run("model", "inspect", "--bootstrap", bootstrap, "--wait", "2");
        assertEquals(0, inspect.status(), inspect.err());
        assertTrue(inspect.out().contains("default") && inspect.out().contains("history"), inspect.out());

        Path exported = dir.resolve("default.safetensors");
        CommandRun export =
                run("model", "export", "--bootstrap", bootstrap, "--model", "default", "--out", exported.toString());
        assertEquals(0, export.status(), export.err());
        SnapshotState s = new SnapshotState();
        assertTrue(s.apply(Files.readAllBytes(exported)), "a full snapshot");
        assertEquals("default", s.modelId());
        assertEquals(3000, s.examplesSeen(), "every simulated impression trained once");

        CommandRun bad =
                run("model", "export", "--bootstrap", bootstrap, "--model", "nobody", "--out", exported.toString());
        assertTrue(bad.status() == 2 && bad.err().contains("nobody"), bad.status() + ": " + bad.err());
    }
}
