package org.mmoestream.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.mmoestream.config.InputException;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.SpecLoader;
import org.mmoestream.model.Variant;
import org.mmoestream.model.codec.Snapshots;
import org.mmoestream.offline.CsvExamples;
import org.mmoestream.offline.Evaluation;
import org.mmoestream.offline.OfflineTrainer;
import org.mmoestream.offline.Report;
import org.mmoestream.offline.RowFilter;
import org.nd4j.linalg.api.buffer.DataType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code mmoe train-file}: offline training and evaluation on labeled CSV files. */
@Command(
        name = "train-file",
        header = "Trains and evaluates a model on labeled CSV files, offline.",
        mixinStandardHelpOptions = true,
        description = {
            "Trains a model on labeled CSV files with the same training step as the streaming job,",
            "prints a per-task table and writes report.json.",
            "A file may select rows by index: FILE#mod4=0,1 keeps rows whose 0-based index mod 4 is 0 or 1.",
            "--epochs 1 without --val is one progressive pass in file order (each batch scored before training)."
        })
final class TrainFileCommand implements Callable<Integer> {

    @Option(names = "--spec", required = true, description = "model spec (YAML)")
    Path spec;

    @Option(
            names = "--train",
            required = true,
            description = "training CSV (.csv or .csv.gz), optionally FILE#modN=r,...")
    String train;

    @Option(names = "--val", description = "validation CSV: early stopping on its mean task AUC")
    String val;

    @Option(names = "--test", description = "test CSV: the report's metrics are measured on it")
    String test;

    @Option(
            names = "--model",
            description = "mmoe, omoe, shared-bottom, single-task, or ple with a ple spec (default: the spec's)")
    String model;

    @Option(names = "--epochs", defaultValue = "1", description = "maximum epochs (default: ${DEFAULT-VALUE})")
    int epochs;

    @Option(
            names = "--patience",
            defaultValue = "2",
            description = "epochs without a better validation AUC before stopping (default: ${DEFAULT-VALUE})")
    int patience;

    @Option(names = "--batch", defaultValue = "256", description = "batch size (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(
            names = "--seed",
            defaultValue = "42",
            description = "seed of initialization and shuffling (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(
            names = "--lr",
            description = "the optimizer's learning rate (default: the spec's; a feature's own learning_rate stays)")
    Double learningRate;

    @Option(names = "--out", defaultValue = "report.json", description = "report file (default: ${DEFAULT-VALUE})")
    Path out;

    @Option(
            names = "--save",
            description = "also write the trained model (the best epoch's with --val) to this file as a full snapshot"
                    + " in the model topic's format (version 0), for model inspect, model score and any reader")
    Path save;

    @Option(
            names = "--model-id",
            description = "the model id written into the --save snapshot (default: the spec's name)")
    String modelId;

    @Override
    public Integer call() {
        if (epochs < 1 || batch < 1 || patience < 1) {
            throw new InputException("--epochs, --batch and --patience must be at least 1.");
        }
        ModelSpec s = SpecLoader.load(spec);
        if (s.optimizer().servingAverageHours() > 0) {
            throw new InputException(spec + ": optimizer.serving_average_hours sizes the serving average in event"
                    + " time, which a file's rows do not carry; size it in steps (optimizer.serving_average) to train"
                    + " on a file.");
        }
        if (model != null) {
            Variant v = Variant.parse(model);
            if (v == null) {
                throw new InputException(
                        "--model must be mmoe, omoe, shared-bottom, single-task or ple, got '" + model + "'.");
            }
            if ((v == Variant.PLE) != (s.architecture().variant() == Variant.PLE)) {
                throw new InputException("--model " + model + ": a spec's experts of variant ple (shared and per "
                        + "task) and of the other variants are not interchangeable; set model.variant in the spec.");
            }
            s = s.withArchitecture(s.architecture().withVariant(v));
        }
        if (learningRate != null) {
            if (!(learningRate > 0)) {
                throw new InputException("--lr must be a positive number, got " + learningRate + ".");
            }
            s = s.withOptimizer(s.optimizer().withLearningRate(learningRate));
        }
        CsvExamples reader = new CsvExamples(s);
        List<EncodedExample> trainRows = read(reader, train, "--train");
        List<EncodedExample> valRows = val == null ? null : read(reader, val, "--val");
        List<EncodedExample> testRows = test == null ? null : read(reader, test, "--test");
        System.err.printf(
                "train-file: %s, %,d training rows%s%s%n",
                s.architecture().variant().key(),
                trainRows.size(),
                valRows == null ? "" : String.format(", %,d validation rows", valRows.size()),
                testRows == null ? "" : String.format(", %,d test rows", testRows.size()));

        MmoeModel m = MmoeModel.create(s, seed, DataType.FLOAT);
        OfflineTrainer.Result r = new OfflineTrainer(
                        new OfflineTrainer.Options(epochs, batch, seed, patience), System.err)
                .run(m, trainRows, valRows);

        Report report = new Report(s.architecture().variant().key());
        Evaluation main;
        String split;
        if (testRows != null) {
            main = Evaluation.of(m, testRows, Math.max(batch, 1024));
            split = "test";
        } else if (r.validation() != null) {
            main = r.validation();
            split = "validation";
        } else {
            main = r.progressive();
            split = "progressive";
        }
        report.tasks(split, main);
        report.root().put("examples_per_second", Math.round(r.examplesPerSecond()));
        report.root().put("examples_trained", r.examplesTrained());
        report.root().put("epochs_run", r.epochsRun());
        report.root().put("best_epoch", r.bestEpoch());
        report.root().put("skipped_batches", m.skippedBatches());
        report.root().set("progressive", Report.taskNode(r.progressive()));
        if (r.validation() != null) {
            report.root().set("validation", Report.taskNode(r.validation()));
        }
        report.gates(s.taskNames(), main.gates());
        report.write(out);
        if (save != null) {
            // The optimizer's state is the last epoch's: it belongs to the parameters only when those are the last
            // epoch's too.
            save(m, split, main, r.bestEpoch() == r.epochsRun());
        }
        Report.printTable(
                System.out,
                split + " metrics (" + s.architecture().variant().key() + ", epoch " + r.bestEpoch() + "):",
                main);
        System.out.printf("examples_per_second %.0f%nreport %s%n", r.examplesPerSecond(), out);
        return 0;
    }

    /**
     * Writes {@code m} to {@link #save} as a full snapshot: version 0 (offline), its examples seen,
     * and in its metrics where it came from ({@code source}, {@code train}) and the report's
     * metrics on {@code split}; with {@code trainingState}, the optimizer's state and the
     * dense-feature statistics' counts, so that a warm start goes on exactly from here.
     */
    private void save(MmoeModel m, String split, Evaluation main, boolean trainingState) {
        ObjectNode metrics = Report.taskNode(main);
        metrics.put("source", "train-file");
        metrics.put("train", train);
        metrics.put("split", split);
        String id = modelId != null ? modelId : m.spec().name();
        byte[] bytes = Snapshots.full(
                m,
                new Snapshots.Meta(
                        id, 0, Snapshots.FULL, 0, m.examplesSeen(), System.currentTimeMillis(), metrics.toString()),
                Snapshots.tablesOf(m),
                trainingState);
        try {
            Files.write(save, bytes);
        } catch (java.io.IOException e) {
            throw new InputException("--save: cannot write " + save + " (" + e.getMessage() + ").");
        }
        System.out.printf(
                "model %s (%,d bytes, model id %s, version 0, %s)%n",
                save,
                bytes.length,
                id,
                trainingState
                        ? "with the optimizer's state"
                        : "without the optimizer's state: an earlier epoch's parameters");
    }

    private static List<EncodedExample> read(CsvExamples reader, String arg, String flag) {
        RowFilter.FileArg f = RowFilter.parse(arg, flag);
        return reader.read(f.path(), f.filter());
    }
}
