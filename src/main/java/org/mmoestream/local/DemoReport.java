package org.mmoestream.local;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.List;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import org.mmoestream.model.codec.SnapshotState;

/** The demo's report ({@code report.json}) and learning curve ({@code learning-curve.png}). */
final class DemoReport {
    private DemoReport() {}

    /**
     * What the demo measured: the last version, held-out AUC {model ctr, oracle ctr, model cvr,
     * oracle cvr}, the oracle's AUC on the progressive window's rows {ctr, cvr}, and the counts.
     */
    record Results(
            SnapshotState last,
            HeldOut heldOut,
            double[] sameRows,
            double examplesPerSecond,
            int versions,
            long deadLetters,
            long malformedWritten,
            long impressionsWritten,
            long examplesExpected,
            long scores,
            List<double[]> curve,
            long history) {}

    private static void putRounded(ObjectNode n, String key, double v) {
        if (Double.isFinite(v)) {
            n.put(key, Math.round(v * 1e6) / 1e6);
        } else {
            n.putNull(key);
        }
    }

    /**
     * The last version on the held-out impressions: AUC of ctr and cvr (cvr on the clicked ones) for
     * the model and the oracle, and for the spec's first regression task (the conversion's value, on
     * the converted impressions) the model's RMSE, the oracle's (the simulator's expected value), the
     * model's calibration (mean prediction / mean value) and the count; NaN where not measured.
     */
    record HeldOut(
            double ctr,
            double ctrOracle,
            double cvr,
            double cvrOracle,
            double valueRmse,
            double valueOracleRmse,
            double valueCalibration,
            double valueCount) {
        static final HeldOut NONE = new HeldOut(
                Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN);
    }

    /** Writes {@code report.json} and {@code learning-curve.png} of {@code r} into {@code dir}. */
    static void write(Path dir, Results r) throws Exception {
        SnapshotState last = r.last();
        HeldOut heldOut = r.heldOut();
        double[] sameRows = r.sameRows();
        JsonNode metrics = new ObjectMapper().readTree(last.metadata().get("metrics"));
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode n = json.createObjectNode();
        n.put("model", last.model().spec().architecture().variant().key());
        n.put("split", "progressive");
        ObjectNode tasks = n.putObject("tasks");
        for (String head : last.model().spec().heads()) {
            JsonNode h = metrics.path(head);
            ObjectNode t = tasks.putObject(head);
            if (h.has("rmse")) {
                t.set("rmse", h.path("rmse"));
                t.set("mae", h.path("mae"));
                t.set("calibration", h.path("calibration"));
                t.set("n", h.path("n"));
                putRounded(t, "heldout_rmse", heldOut.valueRmse());
                putRounded(t, "heldout_oracle_rmse", heldOut.valueOracleRmse());
                putRounded(t, "heldout_calibration", heldOut.valueCalibration());
                putRounded(t, "heldout_n", heldOut.valueCount());
                continue;
            }
            t.set("auc", h.path("auc"));
            t.set("logloss", h.path("logloss"));
            t.set("calibration", h.path("calibration"));
            t.set("n", h.path("n"));
            if (head.equals("ctr")) {
                putRounded(t, "oracle_auc", sameRows[0]);
                putRounded(t, "heldout_auc", heldOut.ctr());
                putRounded(t, "heldout_oracle_auc", heldOut.ctrOracle());
            } else if (head.equals("cvr")) {
                putRounded(t, "oracle_auc", sameRows[1]);
                putRounded(t, "heldout_auc", heldOut.cvr());
                putRounded(t, "heldout_oracle_auc", heldOut.cvrOracle());
            }
        }
        n.put("examples_per_second", Math.round(r.examplesPerSecond()));
        n.put("impressions_written", r.impressionsWritten());
        n.put("examples_trained", last.examplesSeen() - r.history());
        n.put("examples_expected", r.examplesExpected());
        n.put("history_examples", r.history());
        n.put("model_versions", r.versions());
        n.put("dead_letters", r.deadLetters());
        n.put("malformed_written", r.malformedWritten());
        n.put("scores", r.scores());
        n.set("gates", metrics.path("gates"));
        n.set("gate_health", metrics.path("gate_health"));
        json.writeValue(dir.resolve("report.json").toFile(), n);
        learningCurve(dir.resolve("learning-curve.png"), r.curve());
    }

    /** Progressive AUC per task at each version, against the oracle on the same examples. */
    private static void learningCurve(Path file, List<double[]> curve) throws Exception {

        XYSeries ctr = new XYSeries("ctr progressive AUC");
        XYSeries octr = new XYSeries("ctr oracle AUC, same examples");
        XYSeries cvr = new XYSeries("cvr progressive AUC");
        XYSeries ocvr = new XYSeries("cvr oracle AUC, same examples");
        XYSeries[] series = {ctr, cvr, octr, ocvr};
        for (double[] p : curve) {
            for (int i = 0; i < series.length; i++) {
                if (Double.isFinite(p[i + 1])) {
                    series[i].add(p[0], p[i + 1]);
                }
            }
        }
        XYSeriesCollection data = new XYSeriesCollection();
        for (XYSeries x : new XYSeries[] {ctr, octr, cvr, ocvr}) {
            data.addSeries(x);
        }
        JFreeChart chart = ChartFactory.createXYLineChart(
                "Progressive AUC at each version vs the oracle on the same examples",
                "examples trained",
                "AUC",
                data,
                PlotOrientation.VERTICAL,
                true,
                false,
                false);
        var plot = chart.getXYPlot();
        plot.getRangeAxis().setRange(0.45, 1.0);
        plot.setBackgroundPaint(java.awt.Color.WHITE);
        plot.setDomainGridlinePaint(java.awt.Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(java.awt.Color.LIGHT_GRAY);
        var renderer = plot.getRenderer();
        java.awt.Color blue = new java.awt.Color(31, 119, 180);
        java.awt.Color orange = new java.awt.Color(214, 95, 0);
        java.awt.BasicStroke solid = new java.awt.BasicStroke(2.2f);
        java.awt.BasicStroke dashed = new java.awt.BasicStroke(
                1.6f, java.awt.BasicStroke.CAP_BUTT, java.awt.BasicStroke.JOIN_MITER, 10f, new float[] {7f, 5f}, 0f);
        java.awt.Color[] colors = {blue, blue, orange, orange};
        for (int i = 0; i < 4; i++) {
            renderer.setSeriesPaint(i, colors[i]);
            renderer.setSeriesStroke(i, i % 2 == 0 ? solid : dashed);
        }
        ChartUtils.saveChartAsPNG(file.toFile(), chart, 1000, 600);
    }
}
