package org.mmoestream.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import org.mmoestream.config.InputException;
import org.mmoestream.model.ParamLayout;
import org.mmoestream.model.codec.SnapshotDiff;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.publish.ModelReader;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code mmoe model inspect}: versions, tensors and gate statistics of published models. */
@Command(
        name = "model",
        header = "Inspects, scores with or exports a model from the model topic or a snapshot file.",
        mixinStandardHelpOptions = true,
        description = {
            "  inspect  reads the model topic (--bootstrap) or a snapshot file (--snapshot) and prints the versions,",
            "           tensor shapes, metrics and, per task, the mean gate weight of each expert, the gate's",
            "           entropy and the share of examples for which one expert has more than 0.9 of the weight",
            "  score    scores one request ('{\"request_id\":..,\"model\":..,\"features\":{..}}') with --snapshot FILE",
            "  export   writes the current model of --model from the topic (--bootstrap) as "
                    + "a full snapshot to --out FILE",
            "  evaluate  AUC, log-loss and calibration per head of --snapshot FILE on a labeled CSV file",
            "           (--test FILE, or FILE#modN=r1,r2 for the rows whose index mod N is r1 or r2)",
            "  diff A B  compares two full snapshot files tensor by tensor: carried over (same name and shape),",
            "            new, dropped, or changed shape"
        })
final class ModelCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "ACTION", description = "inspect, score, export or diff")
    String action;

    @Parameters(index = "1..*", paramLabel = "FILE", description = "diff: the two snapshot files A and B")
    List<Path> files = List.of();

    @Option(names = "--bootstrap", description = "Kafka bootstrap servers (HOST:PORT)")
    String bootstrap;

    @Option(names = "--topic", defaultValue = "model", description = "model topic (default: ${DEFAULT-VALUE})")
    String topic;

    @Option(names = "--model", description = "only this model id")
    String model;

    @Option(names = "--snapshot", description = "a snapshot file (safetensors) instead of the topic")
    Path snapshot;

    @Option(names = "--request", description = "score: the request as JSON (impression shape)")
    String request;

    @Option(names = "--test", description = "evaluate: the labeled CSV file, optionally FILE#modN=r1,r2")
    String test;

    @Option(names = "--out", description = "export: the snapshot file to write")
    Path out;

    @Option(
            names = "--config",
            description = "job configuration whose kafka.client.* properties (SASL, SSL) the reader uses")
    Path config;

    @Option(
            names = "--wait",
            defaultValue = "3",
            description = "seconds without new versions before printing (default: ${DEFAULT-VALUE})")
    int waitSeconds;

    @Override
    public Integer call() throws Exception {
        if (action.equals("score")) {
            return score();
        }
        if (action.equals("export")) {
            return export();
        }
        if (action.equals("diff")) {
            return diff();
        }
        if (action.equals("evaluate")) {
            return evaluate();
        }
        if (!action.equals("inspect")) {
            throw new InputException(
                    "model: unknown action '" + action + "' (available: inspect, score, export, evaluate, diff).");
        }
        PrintStream out = System.out;
        if (snapshot != null) {
            if (!Files.isRegularFile(snapshot)) {
                throw new InputException(snapshot + ": file not found.");
            }
            SnapshotState s = new SnapshotState();
            if (!s.apply(Files.readAllBytes(snapshot))) {
                throw new InputException(snapshot + ": a delta snapshot cannot be inspected without its base.");
            }
            print(out, s);
            return 0;
        }
        if (bootstrap == null) {
            throw new InputException("model inspect needs --bootstrap HOST:PORT or --snapshot FILE.");
        }
        try (ModelReader reader = new ModelReader(bootstrap, topic, model, client())) {
            reader.pollUntilQuiet(Duration.ofSeconds(waitSeconds), Duration.ofMinutes(10));
            if (reader.versions().isEmpty()) {
                out.println("no model versions on topic " + topic);
                return 0;
            }
            out.printf("%-16s %8s %6s %7s %10s%n", "model", "version", "kind", "chunks", "bytes");
            for (ModelReader.Version v : reader.versions()) {
                out.printf("%-16s %8d %6s %7d %10d%n", v.model(), v.version(), v.kind(), v.chunks(), v.bytes());
            }
            for (Map.Entry<String, SnapshotState> e : reader.models().entrySet()) {
                out.println();
                print(out, e.getValue());
            }
        }
        return 0;
    }

    private int diff() throws Exception {
        if (files.size() != 2) {
            throw new InputException("model diff needs two snapshot files, A and B.");
        }
        byte[][] bytes = new byte[2][];
        for (int i = 0; i < 2; i++) {
            Path f = files.get(i);
            if (!Files.isRegularFile(f)) {
                throw new InputException(f + ": file not found.");
            }
            bytes[i] = Files.readAllBytes(f);
            try {
                SnapshotState.checkFull(bytes[i]);
            } catch (RuntimeException e) {
                throw new InputException(f + ": not a full snapshot (" + e.getMessage() + ").");
            }
        }
        Map<SnapshotDiff.Status, Integer> counts = new EnumMap<>(SnapshotDiff.Status.class);
        for (SnapshotDiff.Entry e : SnapshotDiff.of(bytes[0], bytes[1])) {
            System.out.println(e);
            counts.merge(e.status(), 1, Integer::sum);
        }
        System.out.printf(
                "%d carried, %d new, %d dropped, %d changed shape%n",
                counts.getOrDefault(SnapshotDiff.Status.CARRIED, 0),
                counts.getOrDefault(SnapshotDiff.Status.NEW, 0),
                counts.getOrDefault(SnapshotDiff.Status.DROPPED, 0),
                counts.getOrDefault(SnapshotDiff.Status.CHANGED, 0));
        return 0;
    }

    private Properties client() {
        return config == null
                ? new Properties()
                : org.mmoestream.config.JobConfig.load(config).clientProperties();
    }

    private int score() throws Exception {
        if (snapshot == null || request == null) {
            throw new InputException("model score needs --snapshot FILE and --request JSON.");
        }
        if (!Files.isRegularFile(snapshot)) {
            throw new InputException(snapshot + ": file not found.");
        }
        JsonNode req;
        try {
            req = new ObjectMapper().readTree(request);
        } catch (java.io.IOException e) {
            throw new InputException("--request is not valid JSON.");
        }
        if (req == null || !req.isObject()) {
            throw new InputException("--request must be a JSON object.");
        }
        try (org.mmoestream.score.Scorer scorer = org.mmoestream.score.Scorer.fromSnapshot(snapshot)) {
            SnapshotState s = new SnapshotState();
            s.apply(Files.readAllBytes(snapshot));
            String m = req.hasNonNull("model") ? req.get("model").asText() : s.modelId();
            org.mmoestream.score.Scorer.Score sc;
            try {
                sc = scorer.score(m, req.has("features") ? req.get("features").toString() : "{}");
            } catch (IllegalArgumentException e) {
                throw new InputException("--request: " + e.getMessage() + ".");
            }
            var node = new ObjectMapper().createObjectNode();
            node.put("request_id", req.path("request_id").asText(""));
            node.put("model", m);
            node.put("model_version", sc.version());
            for (int h = 0; h < sc.heads().size(); h++) {
                node.put(sc.heads().get(h), sc.values()[h]);
            }
            System.out.println(node);
        }
        return 0;
    }

    /** The metrics of a full snapshot on a labeled file, one {@code name value} line each. */
    private int evaluate() throws Exception {
        if (snapshot == null || test == null) {
            throw new InputException("model evaluate needs --snapshot FILE and --test CSV.");
        }
        if (!Files.isRegularFile(snapshot)) {
            throw new InputException(snapshot + ": file not found.");
        }
        SnapshotState s = new SnapshotState();
        if (!s.apply(Files.readAllBytes(snapshot))) {
            throw new InputException(snapshot + ": a delta snapshot cannot be evaluated without its base.");
        }
        org.mmoestream.offline.RowFilter.FileArg f = org.mmoestream.offline.RowFilter.parse(test, "--test");
        if (!Files.isRegularFile(f.path())) {
            throw new InputException("--test " + f.path() + ": file not found.");
        }
        var rows = new org.mmoestream.offline.CsvExamples(s.model().spec()).read(f.path(), f.filter());
        var heads = org.mmoestream.offline.Evaluation.of(s.model(), rows, 1024).heads();
        for (Map.Entry<String, org.mmoestream.model.TaskMetrics> h : heads.entrySet()) {
            org.mmoestream.model.TaskMetrics m = h.getValue();
            if (m.regression()) {
                System.out.printf(java.util.Locale.ROOT, "evaluate.%s.rmse %.6f%n", h.getKey(), m.rmse());
                System.out.printf(java.util.Locale.ROOT, "evaluate.%s.mae %.6f%n", h.getKey(), m.mae());
                System.out.printf(java.util.Locale.ROOT, "evaluate.%s.calibration %.4f%n", h.getKey(), m.calibration());
                System.out.printf(java.util.Locale.ROOT, "evaluate.%s.n %d examples%n", h.getKey(), m.count());
                continue;
            }
            System.out.printf(java.util.Locale.ROOT, "evaluate.%s.auc %.6f%n", h.getKey(), m.auc());
            System.out.printf(java.util.Locale.ROOT, "evaluate.%s.logloss %.4f%n", h.getKey(), m.logLoss());
            System.out.printf(java.util.Locale.ROOT, "evaluate.%s.calibration %.4f%n", h.getKey(), m.calibration());
            System.out.printf(java.util.Locale.ROOT, "evaluate.%s.n %d examples%n", h.getKey(), m.count());
        }
        return 0;
    }

    private int export() throws Exception {
        if (bootstrap == null || model == null || out == null) {
            throw new InputException("model export needs --bootstrap HOST:PORT, --model ID and --out FILE.");
        }
        try (ModelReader reader = new ModelReader(bootstrap, topic, model, client())) {
            reader.pollUntilQuiet(Duration.ofSeconds(waitSeconds), Duration.ofMinutes(10));
            SnapshotState s = reader.model(model);
            if (s == null) {
                throw new InputException("model export: no version of model '" + model + "' on topic " + topic + ".");
            }
            byte[] bytes = s.fullSnapshot();
            Files.write(out, bytes);
            System.out.printf("model export: %s version %d -> %s (%,d bytes)%n", model, s.version(), out, bytes.length);
        }
        return 0;
    }

    /**
     * The learned terms of the loss and of serving: each task's weight under uncertainty weighting,
     * a log-normal task's sigma^2, the bias tower's weights.
     */
    private static void printLearnedLossTerms(PrintStream out, org.mmoestream.model.MmoeModel m) {
        var net = m.network();
        var p = net.paramAccess();
        var tasks = m.spec().tasks();
        for (int t = 0; t < tasks.size(); t++) {
            if (net.logVariance() != null) {
                double lv = p.get(net.logVariance().offset() + t);
                out.printf(
                        java.util.Locale.ROOT,
                        "  task %-10s learned loss weight %.4f (log variance %.4f)%n",
                        tasks.get(t).name(),
                        tasks.get(t).weight() * Math.exp(-lv),
                        lv);
            }
            if (net.taskLogVariance(t) != null) {
                out.printf(
                        java.util.Locale.ROOT,
                        "  task %-10s log-normal sigma^2 %.4f%n",
                        tasks.get(t).name(),
                        Math.exp(p.get(net.taskLogVariance(t).offset())));
            }
        }
        if (net.biasWeight() != null) {
            double[] w = new double[net.biasWeight().size()];
            p.read(net.biasWeight().offset(), w, 0, w.length);
            out.printf(
                    java.util.Locale.ROOT,
                    "  bias tower weights %s, bias %.4f%n",
                    java.util.Arrays.toString(w),
                    p.get(net.biasBias().offset()));
        }
    }

    private static void print(PrintStream out, SnapshotState s) throws Exception {
        out.printf(
                "model %s, version %d, %d examples seen, %s%n",
                s.modelId(),
                s.version(),
                s.examplesSeen(),
                s.model().spec().architecture().variant().key());
        for (ParamLayout.Entry e : s.model().network().layout().entries()) {
            out.printf("  %-32s %s%n", e.name(), java.util.Arrays.toString(e.shape()));
        }
        for (var f : s.model().spec().features().sparse()) {
            out.printf("  %-32s [%d, %d]%n", "embedding." + f.name() + ".weight", f.buckets(), f.dim());
        }
        printLearnedLossTerms(out, s.model());
        JsonNode metrics = new ObjectMapper().readTree(s.metadata().getOrDefault("metrics", "{}"));
        Iterator<Map.Entry<String, JsonNode>> it = metrics.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> m = it.next();
            if (m.getKey().equals("gates")) {
                m.getValue()
                        .fields()
                        .forEachRemaining(
                                g -> out.printf("  gate %-10s mean expert weights %s%n", g.getKey(), g.getValue()));
            } else if (m.getKey().equals("gate_health")) {
                m.getValue()
                        .fields()
                        .forEachRemaining(g -> out.printf(
                                "  gate %-10s entropy %s nats, share of examples with one expert above %.1f: %s%n",
                                g.getKey(),
                                g.getValue().path("entropy"),
                                org.mmoestream.model.GateStatistics.POLARIZED,
                                g.getValue().path("polarized_share")));
            } else {
                out.printf("  %-10s %s%n", m.getKey(), m.getValue());
            }
        }
    }
}
