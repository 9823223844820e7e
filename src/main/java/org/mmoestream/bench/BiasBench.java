package org.mmoestream.bench;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.feature.FeatureSpec;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.model.Batch;
import org.mmoestream.model.BiasTower;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.SpecLoader;
import org.mmoestream.model.TaskMetrics;
import org.mmoestream.simulate.Simulator;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Position bias ({@code bin/mmoe bench bias}): the simulator with positions ({@link
 * Simulator#withPositionBias}: a previous ranker places relevant impressions nearer the top, and
 * the position has a click effect of its own), the CTR/CVR model of {@code examples/ctr-cvr.yaml}
 * trained in one pass in order, three ways: {@code none} (the position is not a feature), {@code
 * feature} (the position is an ordinary input of the experts and gates) and {@code tower} (the
 * position feeds the bias tower only, its logit added to ctr in training and left out at serving).
 * Held-out impressions are served without their position (unknown when a ranker scores); the
 * figure is how the served CTR ranks them by their position-free click probability: the AUC
 * against clicks drawn at position 1, {@code bias.<way>.ctr.auc_position_free}, beside the oracle's
 * (that probability itself), and the AUC against the clicks that happened, {@code .auc_observed}.
 */
public final class BiasBench {
    private static final int HELD_OUT = 50_000;

    private final int examples;
    private final double strength;
    private final PrintStream out;

    public BiasBench(int examples, double strength, PrintStream out) {
        this.examples = examples;
        this.strength = strength;
        this.out = out;
    }

    /** {@code base} with a {@code position} sparse feature, as an input ({@code bias} false) or for the bias tower. */
    static ModelSpec withPosition(ModelSpec base, boolean bias) {
        List<SparseFeature> sparse = new ArrayList<>(base.features().sparse());
        sparse.add(new SparseFeature("position", "position", 16, 4, false, "|", bias));
        FeatureSpec fs = new FeatureSpec(sparse, base.features().dense());
        ModelSpec s = new ModelSpec(base.name(), fs, base.tasks(), base.architecture(), base.optimizer(), base.csv());
        return bias ? s.withArchitecture(s.architecture().withBiasTower(new BiasTower(List.of("ctr"), Map.of()))) : s;
    }

    public void run() {
        ModelSpec base = SpecLoader.load(Path.of("examples/ctr-cvr.yaml"));
        Map<String, ModelSpec> ways = new LinkedHashMap<>();
        ways.put("none", base);
        ways.put("feature", withPosition(base, false));
        ways.put("tower", withPosition(base, true));
        Simulator sim = new Simulator(7, 2_000, 500, 0.5, "m").withPositionBias(strength);
        List<Simulator.Impression> train = new ArrayList<>(examples);
        for (int i = 0; i < examples; i++) {
            train.add(sim.next(0, 1, 1));
        }
        List<Simulator.Impression> held = new ArrayList<>(HELD_OUT);
        for (int i = 0; i < HELD_OUT; i++) {
            held.add(sim.next(0, 1, 1));
        }
        // Clicks as they would have been at position 1, drawn once for every way.
        SplittableRandom draw = new SplittableRandom(99);
        boolean[] freeClick = new boolean[HELD_OUT];
        TaskMetrics oracle = new TaskMetrics();
        TaskMetrics oracleObserved = new TaskMetrics();
        for (int i = 0; i < HELD_OUT; i++) {
            freeClick[i] = draw.nextDouble() < held.get(i).pClickFree();
            oracle.add(held.get(i).pClickFree(), freeClick[i]);
            oracleObserved.add(held.get(i).pClick(), held.get(i).clicked());
        }
        out.printf(Locale.ROOT, "bias.examples %d count%n", examples);
        out.printf(Locale.ROOT, "bias.oracle.ctr.auc_position_free %.4f ratio%n", oracle.auc());
        out.printf(Locale.ROOT, "bias.oracle.ctr.auc_observed %.4f ratio%n", oracleObserved.auc());
        for (Map.Entry<String, ModelSpec> w : ways.entrySet()) {
            long t0 = System.nanoTime();
            ModelSpec spec = w.getValue();
            MmoeModel model = MmoeModel.create(spec, 42, DataType.FLOAT);
            ExampleEncoder enc = new ExampleEncoder(spec);
            List<EncodedExample> batch = new ArrayList<>(256);
            for (Simulator.Impression im : train) {
                batch.add(enc.encodeFeatures(
                        im.featuresJson(), enc.labels(im.clicked() ? 1 : 0, im.converted() ? 1 : 0)));
                if (batch.size() == 256) {
                    model.trainStep(Batch.of(batch));
                    batch.clear();
                }
            }
            int ctr = spec.taskIndex("ctr");
            TaskMetrics free = new TaskMetrics();
            TaskMetrics observed = new TaskMetrics();
            for (int from = 0; from < HELD_OUT; from += 1024) {
                List<EncodedExample> rows = new ArrayList<>();
                for (int i = from; i < Math.min(HELD_OUT, from + 1024); i++) {
                    // At serving the position is unknown: the request does not carry it.
                    String json = held.get(i).featuresJson().replaceAll(",\"position\":\"p[0-9]+\"", "");
                    rows.add(enc.encodeFeatures(json, null));
                }
                double[] p = model.predict(Batch.of(rows))[ctr];
                for (int k = 0; k < p.length; k++) {
                    free.add(p[k], freeClick[from + k]);
                    observed.add(p[k], held.get(from + k).clicked());
                }
            }
            String n = "bias." + w.getKey() + ".ctr.";
            out.printf(Locale.ROOT, "%sauc_position_free %.4f ratio%n", n, free.auc());
            out.printf(Locale.ROOT, "%sauc_observed %.4f ratio%n", n, observed.auc());
            out.printf(Locale.ROOT, "%scalibration_position_free %.3f ratio%n", n, calibration(free, freeClick));
            out.printf(Locale.ROOT, "bias.%s.seconds %.1f s%n", w.getKey(), (System.nanoTime() - t0) / 1e9);
        }
    }

    private static double calibration(TaskMetrics m, boolean[] labels) {
        int pos = 0;
        for (boolean b : labels) {
            pos += b ? 1 : 0;
        }
        return m.meanPrediction() / ((double) pos / labels.length);
    }
}
