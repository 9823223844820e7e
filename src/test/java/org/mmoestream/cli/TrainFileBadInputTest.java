package org.mmoestream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad input to {@code train-file} ends with exit status 2 and one sentence that names where the
 * problem is: the spec file and key, or the data file, row and column.
 */
class TrainFileBadInputTest {
    private static final String SPEC = """
      name: tiny
      features:
        sparse:
          - {name: user, buckets: 10, dim: 2}
        dense:
          - {name: price, transform: log1p}
      tasks:
        - {name: ctr, label: click}
        - {name: cvr, label: conversion}
      model: {experts: 2, expert_hidden: [4], tower_hidden: [2]}
      """;
    private static final String GOOD_ROWS = "user,price,click,conversion\nu1,3.5,1,0\nu2,1.0,0,0\n";

    @TempDir
    Path dir;

    private record Run(int status, String err) {}

    private Run run(String spec, String csv) throws IOException {
        Path s = dir.resolve("spec.yaml");
        Path c = dir.resolve("data.csv");
        Files.writeString(s, spec);
        Files.writeString(c, csv);
        StringWriter err = new StringWriter();
        int status = Main.execute(
                new PrintWriter(err, true),
                "train-file",
                "--spec",
                s.toString(),
                "--train",
                c.toString(),
                "--out",
                dir.resolve("report.json").toString());
        return new Run(status, err.toString().trim());
    }

    private static void assertOneSentence(Run r, String... parts) {
        assertEquals(2, r.status(), r.err());
        assertEquals(1, r.err().lines().count(), "one line: " + r.err());
        assertTrue(r.err().endsWith("."), r.err());
        for (String p : parts) {
            assertTrue(r.err().contains(p), "'" + p + "' in: " + r.err());
        }
    }

    @Test
    void goodInputTrains() throws IOException {
        Run r = run(SPEC, GOOD_ROWS);
        assertEquals(0, r.status(), r.err());
        assertTrue(Files.exists(dir.resolve("report.json")));
    }

    @Test
    void badSpecNamesFileAndKey() throws IOException {
        assertOneSentence(
                run(SPEC.replace("buckets: 10", "buckets: ten"), GOOD_ROWS), "spec.yaml", "features.sparse[0].buckets");
        assertOneSentence(run(SPEC.replace("experts: 2", "expertz: 2"), GOOD_ROWS), "spec.yaml", "model.expertz");
        assertOneSentence(
                run(SPEC.replace("log1p", "sqrt"), GOOD_ROWS), "spec.yaml", "features.dense[0].transform", "sqrt");
        assertOneSentence(run("features: [", GOOD_ROWS), "spec.yaml", "not valid YAML");
        // A file's rows carry no event time to size a serving average by.
        assertOneSentence(
                run(SPEC + "optimizer: {serving_average_hours: 3}\n", GOOD_ROWS),
                "spec.yaml",
                "optimizer.serving_average_hours",
                "optimizer.serving_average)");
    }

    @Test
    void missingColumnNamesFileRowAndColumn() throws IOException {
        assertOneSentence(run(SPEC, "user,price,click\nu1,3.5,1\n"), "data.csv", "row 0", "'conversion'");
        assertOneSentence(run(SPEC, GOOD_ROWS + "u3,2.0,1\n"), "data.csv", "row 3", "'conversion'");
    }

    @Test
    void labelThatIsNotZeroOrOneNamesFileRowAndColumn() throws IOException {
        assertOneSentence(run(SPEC, GOOD_ROWS + "u3,2.0,yes,0\n"), "data.csv", "row 3", "'click'", "'yes'");
    }

    @Test
    void nonNumericDenseValueNamesFileRowAndColumn() throws IOException {
        assertOneSentence(run(SPEC, GOOD_ROWS + "u3,cheap,1,0\n"), "data.csv", "row 3", "'price'", "'cheap'");
    }

    @Test
    void badFlagsAreUsageErrors() throws IOException {
        Path s = dir.resolve("spec.yaml");
        Files.writeString(s, SPEC);
        StringWriter err = new StringWriter();
        assertEquals(
                2,
                Main.execute(
                        new PrintWriter(err, true),
                        "train-file",
                        "--spec",
                        s.toString(),
                        "--train",
                        "x.csv",
                        "--model",
                        "mmoe2"));
        assertTrue(err.toString().contains("--model"), err.toString());
        assertEquals(2, Main.execute(new PrintWriter(new StringWriter(), true), "train-file", "--spec", s.toString()));
    }
}
