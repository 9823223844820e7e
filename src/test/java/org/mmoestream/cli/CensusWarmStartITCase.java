package org.mmoestream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.NdAccess;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.offline.CsvExamples;
import org.mmoestream.offline.Evaluation;
import org.mmoestream.offline.RowFilter;
import org.mmoestream.testing.CommandRun;
import org.mmoestream.testing.KafkaBroker;

/**
 * Warm start on census-income in file order (the training rows, 0 and 1 mod 4): {@code train-file
 * --save} on the first 24,832 rows (97 batches), then the pipeline started from that snapshot
 * ({@code train.init-from}) and fed the rest by {@code replay}, in event-time order. With the
 * optimizer's state in the snapshot the result is the model {@code train-file} makes in one pass
 * over all the rows (every tensor equal), so its test AUC is that of the whole file in one stream,
 * and above the offline model's alone.
 */
class CensusWarmStartITCase {
    @RegisterExtension
    static final KafkaBroker KAFKA = new KafkaBroker();

    private static final Path DATA = Path.of("../shared/data/census-income/keras-mmoe_census-income.test.gz");
    private static final String SPEC = "examples/census-income.yaml";
    private static final int FIRST = 97 * 256;

    @TempDir
    Path dir;

    @Test
    void theWarmStartedPipelineGoesOnAsOneStreamOverTheWholeFile() throws Exception {
        List<String> train = new ArrayList<>();
        List<String> test = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(
                new InputStreamReader(new GZIPInputStream(Files.newInputStream(DATA)), StandardCharsets.UTF_8))) {
            int i = 0;
            for (String line; (line = r.readLine()) != null; i++) {
                if (i % 4 <= 1) {
                    train.add(line);
                } else if (i % 4 == 3) {
                    test.add(line);
                }
            }
        }
        Path first = write("first.csv", train.subList(0, FIRST));
        Path second = write("second.csv", train.subList(FIRST, train.size()));
        Path whole = write("train.csv", train);
        Path testFile = write("test.csv", test);

        Path offline = dir.resolve("offline.safetensors");
        Path oneStream = dir.resolve("one-stream.safetensors");
        for (Object[] run : new Object[][] {{first, offline}, {whole, oneStream}}) {
            CommandRun t = CommandRun.of(
                    "train-file",
                    "--spec",
                    SPEC,
                    "--train",
                    run[0].toString(),
                    "--epochs",
                    "1",
                    "--seed",
                    "42",
                    "--save",
                    run[1].toString(),
                    "--model-id",
                    "census",
                    "--out",
                    dir.resolve("r.json").toString());
            assertEquals(0, t.status(), t.err());
            assertTrue(t.out().contains("with the optimizer's state"), t.out());
        }

        String bootstrap = KAFKA.bootstrapServers();
        KAFKA.createTopics(
                Map.of("impressions", 2, "clicks", 2, "conversions", 2, "examples", 2, "dead-letter", 1, "model", 1));
        CommandRun replay = CommandRun.of(
                "replay", "--bootstrap", bootstrap, "--spec", SPEC, "--csv", second.toString(), "--model", "census");
        assertEquals(0, replay.status(), replay.err());
        Path job = dir.resolve("job.yaml");
        Files.writeString(
                job,
                String.join(
                        "\n",
                        "kafka.bootstrap-servers: " + bootstrap,
                        "kafka.group-id: census-warm-start",
                        "model.spec: " + Path.of(SPEC).toAbsolutePath(),
                        "train.order: event-time",
                        "train.init-from: " + offline,
                        // marital travels as a conversion, on impressions with and without a click (income)
                        "join.drop-conversions-without-click: false",
                        "publish.interval: 1 s",
                        ""));
        CommandRun pipeline = CommandRun.of("pipeline", "--config", job.toString(), "--bounded");
        assertEquals(0, pipeline.status(), pipeline.err());
        Path warm = dir.resolve("warm.safetensors");
        CommandRun export = CommandRun.of(
                "model", "export", "--bootstrap", bootstrap, "--model", "census", "--out", warm.toString());
        assertEquals(0, export.status(), export.err());

        SnapshotState b = snapshot(warm);
        SnapshotState a = snapshot(offline);
        SnapshotState c = snapshot(oneStream);
        assertEquals(train.size(), b.examplesSeen(), "every row trained once");
        assertTrue(
                b.metadata().get("metrics").contains("\"optimizer\":\"carried\""),
                b.metadata().get("metrics"));
        assertSameModel(c.model(), b.model());

        var rows = new CsvExamples(a.model().spec()).read(testFile, RowFilter.ALL);
        Map<String, Double> offlineAuc = auc(a.model(), rows);
        Map<String, Double> streamAuc = auc(c.model(), rows);
        Map<String, Double> warmAuc = auc(b.model(), rows);
        System.out.printf(
                "census warm start: offline half %s, one stream %s, warm start + pipeline %s%n",
                offlineAuc, streamAuc, warmAuc);
        for (String task : List.of("income", "marital")) {
            assertTrue(warmAuc.get(task) > offlineAuc.get(task), task + ": " + warmAuc + " vs " + offlineAuc);
            assertEquals(streamAuc.get(task), warmAuc.get(task), 1e-6, task);
        }
    }

    private Path write(String name, List<String> lines) throws Exception {
        Path p = dir.resolve(name);
        Files.write(p, lines);
        return p;
    }

    private static SnapshotState snapshot(Path file) throws Exception {
        SnapshotState s = new SnapshotState();
        assertTrue(s.apply(Files.readAllBytes(file)), file + " is a full snapshot");
        return s;
    }

    private static Map<String, Double> auc(MmoeModel m, List<org.mmoestream.feature.EncodedExample> rows) {
        return Evaluation.of(m, rows, 1024).aucs();
    }

    /** Every dense parameter and embedding value equal, to float rounding. */
    private static void assertSameModel(MmoeModel want, MmoeModel got) {
        NdAccess w = want.network().paramAccess();
        NdAccess g = got.network().paramAccess();
        assertEquals(w.length(), g.length());
        for (int i = 0; i < w.length(); i++) {
            assertEquals(w.get(i), g.get(i), 1e-5 + 1e-4 * Math.abs(w.get(i)), "dense parameter " + i);
        }
        List<SparseFeature> sparse = want.spec().features().sparse();
        for (int f = 0; f < sparse.size(); f++) {
            NdAccess tw = want.embeddings().tableAccess(f);
            NdAccess tg = got.embeddings().tableAccess(f);
            for (int i = 0; i < tw.length(); i++) {
                assertEquals(
                        tw.get(i),
                        tg.get(i),
                        1e-5 + 1e-4 * Math.abs(tw.get(i)),
                        sparse.get(f).name() + " " + i);
            }
        }
    }
}
