package org.mmoestream.bench;

import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import org.mmoestream.event.LabeledExample;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.SpecLoader;
import org.mmoestream.offline.CsvExamples;
import org.mmoestream.offline.Evaluation;
import org.mmoestream.offline.RowFilter;
import org.mmoestream.train.SynchronousRounds;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The quality of training one model on N replicas in synchronous rounds against one trainer, on
 * the same examples in the same order (one pass, as a stream), in one process with the job's
 * replica and reducer arithmetic ({@link SynchronousRounds}): the simulator's labeled examples of
 * the reference shape ({@code bench train}'s) and the census-income file in file order (its spec,
 * rows {0,1} mod 4 trained, row 3 mod 4 held out). Prints {@code rounds.<data>.parallelism<N>.auc.<head>}
 * and the difference from N=1, {@code .auc_change.<head>}; and, to judge those differences, how far
 * one trainer's AUC moves with the order of the same examples: {@code
 * rounds.<data>.order_spread.<head>}, the range over the file order and three shuffled orders. Also
 * the CPU of one thread running every replica and the reducer one after the other, per example
 * (from the reducer's model made; the replicas' copies made and filled count),
 * {@code .cpu_seconds_per_example}, and over one trainer's, {@code .cpu_ratio}: the work of the
 * rounds themselves (the replicas' passes on their shares, the reducer's step, writing each
 * synchronization version and every replica applying it), without Kafka or Flink between them,
 * which is what the job's rounds would cost with a free transport.
 *
 * <p>With {@link #withCuts}, also how much one trainer's AUC depends on where a stream cuts its
 * batches short ({@code train.max-wait}, checkpoint barriers, the end of the input): runs with K
 * batches cut at random places, each with the plain mean's step for a partial batch and with the
 * step scaled by its share of a full batch ({@link MmoeModel#scalePartialBatches}, what the job
 * does), {@code rounds.<data>.cuts<K>.<mean|scaled>.auc_min.<head>} and {@code .auc_max}.
 */
public final class RoundsBench {
    private static final int HELD_OUT = 20_000;
    /** The batch of one trainer and of a round, the job's default. */
    private static final int BATCH = 256;

    private static final ThreadMXBean CPU = ManagementFactory.getThreadMXBean();

    private final int examples;
    private final Path census;
    private final int[] averageEvery;
    private final PrintStream out;

    /**
     * @param averageEvery for each K, also local SGD with model averaging every K rounds ({@link
     *     ModelAveraging}) at each N above 1: {@code rounds.<data>.averaged_every<K>.parallelism<N>.*}
     */
    public RoundsBench(int examples, Path census, int[] averageEvery, PrintStream out) {
        this.examples = examples;
        this.census = census;
        this.averageEvery = averageEvery.clone();
        this.out = out;
    }

    private double[] densities = {1};

    /**
     * Each N above 1 also with replicas sending these shares of their dense gradient ({@code
     * train.gradient-density}; figures {@code rounds.<data>.density<D>.parallelism<N>}, D with '_'
     * for the point); each in (0, 1].
     */
    public RoundsBench withGradientDensities(double[] densities) {
        this.densities = densities.clone();
        return this;
    }

    private int[] sumEvery = {};

    /**
     * Each N above 1 also with asynchronous deltas summed every K rounds ({@link
     * ModelAveraging.Exchange#SUM}): {@code rounds.<data>.summed_every<K>.parallelism<N>.*}.
     */
    public RoundsBench withDeltaSums(int[] sumEvery) {
        if (java.util.Arrays.stream(sumEvery).anyMatch(k -> k < 1)) {
            throw new IllegalArgumentException("--sum-every must be at least 1");
        }
        this.sumEvery = sumEvery.clone();
        return this;
    }

    private double initialAccumulator = Double.NaN;

    /**
     * The simulated data's spec with Adagrad's accumulators starting at {@code value} instead of the
     * reference shape's 0 (every figure of that data, N=1 too); NaN keeps the reference shape's.
     */
    public RoundsBench withInitialAccumulator(double value) {
        if (value < 0) {
            throw new IllegalArgumentException("--initial-accumulator must not be negative");
        }
        this.initialAccumulator = value;
        return this;
    }

    private int[] cuts = {};
    private int cutRuns = 8;

    /** Also {@code runs} runs of one trainer with each of {@code cuts} batches cut short at random places. */
    public RoundsBench withCuts(int[] cuts, int runs) {
        if (runs < 1 || java.util.Arrays.stream(cuts).anyMatch(k -> k < 1)) {
            throw new IllegalArgumentException("--cuts and --cut-runs must be at least 1");
        }
        this.cuts = cuts.clone();
        this.cutRuns = runs;
        return this;
    }

    public void run(int[] parallelisms) {
        ModelSpec ref = PipelineBench.spec();
        if (!Double.isNaN(initialAccumulator)) {
            ref = ref.withOptimizer(ref.optimizer().withInitialAccumulator(initialAccumulator));
            out.printf(Locale.ROOT, "# simulated: Adagrad's initial accumulator %s%n", initialAccumulator);
        }
        long t0 = System.currentTimeMillis() - 3_600_000L;
        ExampleEncoder enc = new ExampleEncoder(ref);
        List<EncodedExample> train = encode(enc, LabeledData.generate("m", "t", examples, 11, t0));
        List<EncodedExample> heldOut = encode(enc, LabeledData.generate("m", "h", HELD_OUT, 12, t0 + examples));
        compare("simulated", ref, train, heldOut, parallelisms);
        if (!Files.exists(census)) {
            out.printf(Locale.ROOT, "# census-income skipped: no file at %s%n", census);
            return;
        }
        ModelSpec spec = SpecLoader.load(Path.of("examples/census-income.yaml"));
        CsvExamples csv = new CsvExamples(spec);
        compare(
                "census",
                spec,
                csv.read(
                        census,
                        RowFilter.parse(census + "#mod4=0,1", "--census").filter()),
                csv.read(census, RowFilter.parse(census + "#mod4=3", "--census").filter()),
                parallelisms);
    }

    private static List<EncodedExample> encode(ExampleEncoder enc, List<LabeledExample> xs) {
        return xs.stream()
                .map(e -> enc.encode(e.features, e.click, e.conversion))
                .toList();
    }

    private void compare(
            String data, ModelSpec spec, List<EncodedExample> train, List<EncodedExample> test, int[] parallelisms) {
        // Compiled code for every configuration first, so that the first one measured does not pay for it.
        List<EncodedExample> warm = train.subList(0, Math.min(train.size(), 20_000));
        for (int n : parallelisms) {
            for (double d : n > 1 ? densities : new double[] {1}) {
                SynchronousRounds.train(spec, 42, warm, BATCH, n, d);
            }
        }
        Map<String, Double> base = null;
        double baseCpu = Double.NaN;
        for (int n : parallelisms) {
            for (double d : n > 1 ? densities : new double[] {1}) {
                String name = "rounds." + data + TrainBench.densityName(d) + ".parallelism" + n;
                MmoeModel m = MmoeModel.create(spec, 42, DataType.FLOAT);
                long cpu0 = CPU.getCurrentThreadCpuTime();
                SynchronousRounds.train(m, 42, train, BATCH, n, d);
                double cpu = (CPU.getCurrentThreadCpuTime() - cpu0) / 1e9 / train.size();
                Map<String, Double> auc = Evaluation.of(m, test, 1024).aucs();
                print(name, auc, base);
                out.printf(Locale.ROOT, "%s.cpu_seconds_per_example %.3e s%n", name, cpu);
                if (n == 1 && Double.isNaN(baseCpu)) {
                    baseCpu = cpu;
                } else if (!Double.isNaN(baseCpu)) {
                    out.printf(Locale.ROOT, "%s.cpu_ratio %.3f x%n", name, cpu / baseCpu);
                }
                if (base == null && n == 1) {
                    base = auc;
                }
            }
            if (n > 1) {
                exchanges(data, spec, train, test, n, averageEvery, ModelAveraging.Exchange.MEAN, base);
                exchanges(data, spec, train, test, n, sumEvery, ModelAveraging.Exchange.SUM, base);
            }
        }
        Map<String, double[]> range = new LinkedHashMap<>();
        for (int shuffle = 0; shuffle <= 3; shuffle++) {
            List<EncodedExample> order = new ArrayList<>(train);
            if (shuffle > 0) {
                Collections.shuffle(order, new Random(shuffle));
            }
            widen(range, auc(spec, order, test, 1, 1));
        }
        for (Map.Entry<String, double[]> r : range.entrySet()) {
            out.printf(
                    Locale.ROOT,
                    "rounds.%s.order_spread.%s %.4f%n",
                    data,
                    r.getKey(),
                    r.getValue()[1] - r.getValue()[0]);
        }
        out.flush();
        for (int k : cuts) {
            for (boolean scaled : new boolean[] {false, true}) {
                Map<String, double[]> cut = new LinkedHashMap<>();
                for (int run = 1; run <= cutRuns; run++) {
                    MmoeModel m = MmoeModel.create(spec, 42, DataType.FLOAT);
                    m.scalePartialBatches(scaled ? BATCH : 0);
                    trainCut(m, train, k, new Random(run));
                    widen(cut, Evaluation.of(m, test, 1024).aucs());
                }
                String name = "rounds." + data + ".cuts" + k + (scaled ? ".scaled" : ".mean");
                for (Map.Entry<String, double[]> r : cut.entrySet()) {
                    out.printf(Locale.ROOT, "%s.auc_min.%s %.4f%n", name, r.getKey(), r.getValue()[0]);
                    out.printf(Locale.ROOT, "%s.auc_max.%s %.4f%n", name, r.getKey(), r.getValue()[1]);
                }
                out.flush();
            }
        }
    }

    /**
     * {@link ModelAveraging} on {@code n} replicas combined by {@code exchange} every K rounds of
     * {@code every}: {@code rounds.<data>.averaged_every<K>} (the mean) or {@code summed_every<K>}.
     */
    private void exchanges(
            String data,
            ModelSpec spec,
            List<EncodedExample> train,
            List<EncodedExample> test,
            int n,
            int[] every,
            ModelAveraging.Exchange exchange,
            Map<String, Double> base) {
        String kind = exchange == ModelAveraging.Exchange.MEAN ? ".averaged_every" : ".summed_every";
        for (int k : every) {
            MmoeModel m = ModelAveraging.train(spec, 42, train, BATCH, n, k, exchange);
            print(
                    "rounds." + data + kind + k + ".parallelism" + n,
                    Evaluation.of(m, test, 1024).aucs(),
                    base);
        }
    }

    /** Widens each head's [min, max] in {@code range} to take in its AUC in {@code auc}. */
    private static void widen(Map<String, double[]> range, Map<String, Double> auc) {
        for (Map.Entry<String, Double> a : auc.entrySet()) {
            double[] r = range.computeIfAbsent(a.getKey(), h -> new double[] {1, 0});
            r[0] = Math.min(r[0], a.getValue());
            r[1] = Math.max(r[1], a.getValue());
        }
    }

    /**
     * One pass in batches of {@link #BATCH}, {@code cuts} of them cut short at places drawn from {@code rnd}
     * (a batch cut at place c ends before example c; the next starts there).
     */
    static void trainCut(MmoeModel m, List<EncodedExample> train, int cuts, Random rnd) {
        java.util.TreeSet<Integer> at = new java.util.TreeSet<>();
        while (at.size() < Math.min(cuts, train.size() - 1)) {
            at.add(1 + rnd.nextInt(train.size() - 1));
        }
        for (int from = 0; from < train.size(); ) {
            int end = Math.min(train.size(), from + BATCH);
            Integer c = at.higher(from);
            if (c != null && c < end) {
                end = c;
            }
            m.trainStep(org.mmoestream.model.Batch.of(train.subList(from, end)));
            from = end;
        }
    }

    /** Prints {@code name.auc.<head>} and, against {@code base} (N=1) when there is one, {@code .auc_change}. */
    private void print(String name, Map<String, Double> auc, Map<String, Double> base) {
        for (Map.Entry<String, Double> a : auc.entrySet()) {
            out.printf(Locale.ROOT, "%s.auc.%s %.4f%n", name, a.getKey(), a.getValue());
            if (base != null) {
                out.printf(
                        Locale.ROOT, "%s.auc_change.%s %+.4f%n", name, a.getKey(), a.getValue() - base.get(a.getKey()));
            }
        }
        out.flush();
    }

    private static Map<String, Double> auc(
            ModelSpec spec, List<EncodedExample> train, List<EncodedExample> test, int replicas, double density) {
        MmoeModel m = SynchronousRounds.train(spec, 42, train, BATCH, replicas, density);
        return Evaluation.of(m, test, 1024).aucs();
    }
}
