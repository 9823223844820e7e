package org.mmoestream.offline;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import org.mmoestream.model.GateStatistics;
import org.mmoestream.model.TaskMetrics;

/**
 * The {@code report.json} of {@code train-file} (and later of {@code demo}): {@code {"model": ...,
 * "tasks": {"<task>": {"auc", "logloss", "calibration", "n", "positives"}}, "examples_per_second":
 * ...}} plus where the metrics come from and the gate statistics, and the same as a printed table.
 */
public final class Report {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final ObjectNode root = JSON.createObjectNode();

    public Report(String model) {
        root.put("model", model);
    }

    public ObjectNode root() {
        return root;
    }

    /** Sets the main task table ({@code tasks}) from {@code ev}, measured on {@code split}. */
    public Report tasks(String split, Evaluation ev) {
        root.put("split", split);
        root.set("tasks", taskNode(ev));
        return this;
    }

    public static ObjectNode taskNode(Evaluation ev) {
        ObjectNode tasks = JSON.createObjectNode();
        for (Map.Entry<String, TaskMetrics> e : ev.heads().entrySet()) {
            TaskMetrics m = e.getValue();
            ObjectNode t = tasks.putObject(e.getKey());
            if (m.regression()) {
                putNumber(t, "rmse", m.rmse());
                putNumber(t, "mae", m.mae());
                putNumber(t, "calibration", m.calibration());
                t.put("n", m.count());
                continue;
            }
            putNumber(t, "auc", m.auc());
            putNumber(t, "logloss", m.logLoss());
            putNumber(t, "calibration", m.calibration());
            t.put("n", m.count());
            t.put("positives", m.positives());
        }
        return tasks;
    }

    /** Adds per task the mean gate weight of each expert and the mean gate entropy. */
    public Report gates(java.util.List<String> taskNames, GateStatistics g) {
        ObjectNode gates = root.putObject("gates");
        for (int t = 0; t < taskNames.size(); t++) {
            ObjectNode n = gates.putObject(taskNames.get(t));
            ArrayNode w = n.putArray("expert_weights");
            for (int e = 0; e < g.experts(); e++) {
                w.add(round(g.meanWeight(t, e)));
            }
            putNumber(n, "entropy", g.meanEntropy(t));
        }
        return this;
    }

    private static void putNumber(ObjectNode n, String key, double v) {
        if (Double.isNaN(v)) {
            n.putNull(key);
        } else {
            n.put(key, round(v));
        }
    }

    private static double round(double v) {
        return Math.round(v * 1e6) / 1e6;
    }

    public void write(Path file) {
        try {
            if (file.getParent() != null) {
                Files.createDirectories(file.getParent());
            }
            JSON.writeValue(file.toFile(), root);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot write " + file, e);
        }
    }

    /** Prints the per-task table. */
    public static void printTable(PrintStream out, String title, Evaluation ev) {
        out.println(title);
        out.printf(
                Locale.ROOT,
                "  %-12s %8s %9s %11s %9s %9s%n",
                "task",
                "auc",
                "logloss",
                "calibration",
                "n",
                "positives");
        for (Map.Entry<String, TaskMetrics> e : ev.heads().entrySet()) {
            TaskMetrics m = e.getValue();
            if (m.regression()) {
                out.printf(
                        Locale.ROOT,
                        "  %-12s rmse %.4f, mae %.4f, calibration %.3f, n %d%n",
                        e.getKey(),
                        m.rmse(),
                        m.mae(),
                        m.calibration(),
                        m.count());
                continue;
            }
            out.printf(
                    Locale.ROOT,
                    "  %-12s %8.4f %9.4f %11.3f %9d %9d%n",
                    e.getKey(),
                    m.auc(),
                    m.logLoss(),
                    m.calibration(),
                    m.count(),
                    m.positives());
        }
    }
}
