package org.mmoestream.offline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.cli.Main;

/**
 * MMoE on the UCI census-income file with the MMoE paper's group-1 tasks, rows split by index
 * mod 4 ({0,1} train, 2 validation, 3 test), early stopping on validation: the test AUC must reach
 * 0.938 for income and 0.993 for marital status (a PyTorch MMoE: 0.9397 / 0.9938).
 */
class CensusIncomeITCase {
    static final Path DATA = Path.of("../shared/data/census-income/keras-mmoe_census-income.test.gz");

    @TempDir
    Path dir;

    @Test
    void mmoeReachesTheTestAucBars() throws Exception {
        assertTrue(Files.exists(DATA), "the census file is at " + DATA.toAbsolutePath());
        Path report = dir.resolve("report.json");
        String d = DATA.toString();
        int status = Main.execute(
                "train-file",
                "--spec",
                "examples/census-income.yaml",
                "--train",
                d + "#mod4=0,1",
                "--val",
                d + "#mod4=2",
                "--test",
                d + "#mod4=3",
                "--epochs",
                "15",
                "--patience",
                "2",
                "--seed",
                "42",
                "--out",
                report.toString());
        assertEquals(0, status);
        JsonNode r = new ObjectMapper().readTree(report.toFile());
        assertEquals("mmoe", r.get("model").asText());
        assertEquals("test", r.get("split").asText());
        assertEquals(24_940, r.get("tasks").get("income").get("n").asInt());
        double income = r.get("tasks").get("income").get("auc").asDouble();
        double marital = r.get("tasks").get("marital").get("auc").asDouble();
        assertTrue(income >= 0.938, "income test AUC " + income);
        assertTrue(marital >= 0.993, "marital test AUC " + marital);
        assertTrue(r.get("examples_per_second").asDouble() > 0);
        assertEquals(3, r.get("gates").get("income").get("expert_weights").size());
    }
}
