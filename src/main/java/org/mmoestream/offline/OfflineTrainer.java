package org.mmoestream.offline;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.Batch;
import org.mmoestream.model.MmoeModel;

/**
 * The offline loop around {@link MmoeModel#trainStep}: either one progressive pass in file order
 * (every batch scored before it is trained on), or epochs over a shuffled order with early stopping
 * on the validation mean AUC, keeping the best epoch's parameters.
 */
public final class OfflineTrainer {

    /** Loop settings. */
    public record Options(int epochs, int batch, long seed, int patience) {}

    /** What a run produced. */
    public record Result(
            Evaluation progressive,
            Evaluation validation,
            int epochsRun,
            int bestEpoch,
            double examplesPerSecond,
            long examplesTrained) {}

    private final Options options;
    private final PrintStream progress;

    public OfflineTrainer(Options options, PrintStream progress) {
        this.options = options;
        this.progress = progress;
    }

    /** Trains {@code model} on {@code train}; {@code validation} may be null. */
    public Result run(MmoeModel model, List<EncodedExample> train, List<EncodedExample> validation) {
        // As the job's trainer: a replay through the job is the same training, and serves the same.
        model.scalePartialBatches(options.batch());
        if (model.spec().optimizer().servingAverageHours() > 0) {
            throw new IllegalArgumentException("a file's rows carry no event time for optimizer.serving_average_hours");
        }
        model.useServingAverage();
        boolean progressiveOnly = options.epochs() == 1 && validation == null;
        Evaluation progressive = new Evaluation(model.spec(), model.network().experts());
        Evaluation bestVal = null;
        MmoeModel.Parameters best = null;
        int bestEpoch = 0;
        double bestScore = Double.NEGATIVE_INFINITY;
        long trainedRows = 0;
        long nanos = 0;
        int epoch = 0;
        Random shuffle = new Random(options.seed());
        List<EncodedExample> order = new ArrayList<>(train);
        while (epoch < options.epochs()) {
            epoch++;
            if (!progressiveOnly && epoch > 1) {
                Collections.shuffle(order, shuffle);
            }
            long t0 = System.nanoTime();
            long lastReport = t0;
            for (int i = 0; i < order.size(); i += options.batch()) {
                Batch b = Batch.of(order.subList(i, Math.min(order.size(), i + options.batch())));
                MmoeModel.StepResult r = model.trainStep(b);
                if (epoch == 1) {
                    progressive.add(b, r.predictions());
                    model.addGateStatistics(progressive.gates(), b.rows());
                }
                trainedRows += b.rows();
                long now = System.nanoTime();
                if (now - lastReport > 5_000_000_000L) {
                    progress.printf(Locale.ROOT, "epoch %d: %,d / %,d rows%n", epoch, i + b.rows(), order.size());
                    lastReport = now;
                }
            }
            nanos += System.nanoTime() - t0;
            double eps = trainedRows / (nanos / 1e9);
            if (validation == null) {
                progress.printf(
                        Locale.ROOT,
                        "epoch %d/%d: %,.0f examples/s%s%n",
                        epoch,
                        options.epochs(),
                        eps,
                        epoch == 1 ? ", progressive " + summary(progressive) : "");
                continue;
            }
            Evaluation val = Evaluation.of(model, validation, Math.max(options.batch(), 1024));
            double score = val.meanTaskAuc();
            progress.printf(
                    Locale.ROOT,
                    "epoch %d/%d: %,.0f examples/s, validation %s%n",
                    epoch,
                    options.epochs(),
                    eps,
                    summary(val));
            if (score > bestScore) {
                bestScore = score;
                bestEpoch = epoch;
                bestVal = val;
                best = model.copyParameters();
            } else if (epoch - bestEpoch >= options.patience()) {
                progress.printf(
                        Locale.ROOT,
                        "early stop: no better validation AUC for %d epochs, keeping epoch %d%n",
                        options.patience(),
                        bestEpoch);
                break;
            }
        }
        if (best != null && bestEpoch != epoch) {
            model.restoreParameters(best);
        }
        return new Result(
                progressive,
                bestVal,
                epoch,
                validation == null ? epoch : bestEpoch,
                trainedRows / (nanos / 1e9),
                trainedRows);
    }

    static String summary(Evaluation ev) {
        StringBuilder sb = new StringBuilder("auc");
        ev.heads().forEach((name, m) -> sb.append(String.format(Locale.ROOT, " %s=%.4f", name, m.auc())));
        return sb.toString();
    }
}
