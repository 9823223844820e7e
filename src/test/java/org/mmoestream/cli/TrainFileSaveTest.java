package org.mmoestream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.TaskMetrics;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.offline.CsvExamples;
import org.mmoestream.offline.Evaluation;
import org.mmoestream.offline.RowFilter;

/**
 * {@code train-file --save}: the file is a full snapshot in the model topic's format, read back by
 * the reader's code, and it is the model the report measured (its test AUC on the same rows is the
 * report's, exactly); {@code model score} scores with it.
 */
class TrainFileSaveTest {
    private static final String SPEC = """
      name: tiny
      features:
        sparse:
          - {name: user, buckets: 50, dim: 4}
        dense:
          - {name: price, transform: log1p}
      tasks:
        - {name: ctr, label: click}
        - {name: cvr, label: conversion}
      model: {experts: 2, expert_hidden: [8], tower_hidden: [4]}
      """;

    @TempDir
    Path dir;

    private static String rows(int n, long seed) {
        Random rnd = new Random(seed);
        StringBuilder sb = new StringBuilder("user,price,click,conversion\n");
        for (int i = 0; i < n; i++) {
            int u = rnd.nextInt(50);
            int click = rnd.nextDouble() < (u < 25 ? 0.6 : 0.2) ? 1 : 0;
            int conversion = click == 1 && rnd.nextDouble() < (u % 2 == 0 ? 0.5 : 0.1) ? 1 : 0;
            sb.append("u")
                    .append(u)
                    .append(',')
                    .append(rnd.nextInt(100))
                    .append(',')
                    .append(click)
                    .append(',')
                    .append(conversion)
                    .append('\n');
        }
        return sb.toString();
    }

    @Test
    void theSavedSnapshotIsTheModelTheReportMeasured() throws Exception {
        Path spec = dir.resolve("spec.yaml");
        Path train = dir.resolve("train.csv");
        Path test = dir.resolve("test.csv");
        Path model = dir.resolve("model.safetensors");
        Path report = dir.resolve("report.json");
        Files.writeString(spec, SPEC);
        Files.writeString(train, rows(2_000, 1));
        Files.writeString(test, rows(500, 2));
        StringWriter err = new StringWriter();
        int status = Main.execute(
                new PrintWriter(err, true),
                "train-file",
                "--spec",
                spec.toString(),
                "--train",
                train.toString(),
                "--test",
                test.toString(),
                "--out",
                report.toString(),
                "--save",
                model.toString());
        assertEquals(0, status, err.toString());

        SnapshotState s = new SnapshotState();
        assertTrue(s.apply(Files.readAllBytes(model)), "a full snapshot");
        assertEquals(0, s.version());
        assertEquals("tiny", s.modelId());
        assertEquals(2_000, s.examplesSeen());
        JsonNode metrics = new ObjectMapper().readTree(s.metadata().get("metrics"));
        assertEquals("train-file", metrics.get("source").asText());

        List<EncodedExample> testRows = new CsvExamples(s.model().spec()).read(test, RowFilter.ALL);
        Map<String, TaskMetrics> heads =
                Evaluation.of(s.model(), testRows, 1024).heads();
        JsonNode tasks = new ObjectMapper().readTree(report.toFile()).get("tasks");
        for (String head : List.of("ctr", "cvr", "ctcvr")) {
            assertEquals(tasks.get(head).get("auc").asDouble(), heads.get(head).auc(), 1e-6, head);
        }

        StringWriter scoreErr = new StringWriter();
        assertEquals(
                0,
                Main.execute(
                        new PrintWriter(scoreErr, true),
                        "model",
                        "score",
                        "--snapshot",
                        model.toString(),
                        "--request",
                        "{\"request_id\":\"r1\",\"model\":\"tiny\",\"features\":{\"user\":\"u3\",\"price\":12}}"),
                scoreErr.toString());
    }

    @Test
    void modelDiffTellsWhatCarriesOverToASpecWithAnotherFeatureAndAWiderTable() throws Exception {
        Path csv = dir.resolve("train.csv");
        Files.writeString(csv, rows(300, 3).replace("user,price,click,conversion", "user,price,click,conversion"));
        Path a = dir.resolve("a.safetensors");
        Path b = dir.resolve("b.safetensors");
        Path specA = dir.resolve("a.yaml");
        Path specB = dir.resolve("b.yaml");
        Files.writeString(specA, SPEC);
        // One more sparse feature (its table is new, and the experts' first layer grows with the
        // input) and a user table with more buckets (its rows are hashed for the old count).
        Files.writeString(
                specB,
                SPEC.replace(
                        "- {name: user, buckets: 50, dim: 4}",
                        "- {name: user, buckets: 60, dim: 4}\n    - {name: day, column: user, buckets: 7, dim: 2}"));
        for (Path[] run : new Path[][] {{specA, a}, {specB, b}}) {
            StringWriter err = new StringWriter();
            assertEquals(
                    0,
                    Main.execute(
                            new PrintWriter(err, true),
                            "train-file",
                            "--spec",
                            run[0].toString(),
                            "--train",
                            csv.toString(),
                            "--out",
                            dir.resolve("r.json").toString(),
                            "--save",
                            run[1].toString()),
                    err.toString());
        }
        java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
        java.io.PrintStream stdout = System.out;
        System.setOut(new java.io.PrintStream(buf, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            assertEquals(0, Main.execute("model", "diff", a.toString(), b.toString()));
        } finally {
            System.setOut(stdout);
        }
        String out = buf.toString(java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(out.contains("new      embedding.day.weight [7, 2]"), out);
        assertTrue(out.contains("changed  embedding.user.weight [50, 4] -> [60, 4]"), out);
        assertTrue(out.lines().anyMatch(l -> l.startsWith("carried  ") && l.contains("tower")), out);
        assertTrue(out.lines().anyMatch(l -> l.startsWith("changed  ") && l.contains("expert")), out);
    }
}
