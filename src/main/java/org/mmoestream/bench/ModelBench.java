package org.mmoestream.bench;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.mmoestream.feature.CsvLayout;
import org.mmoestream.feature.DenseFeature;
import org.mmoestream.feature.DenseTransform;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.feature.FeatureSpec;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.model.Architecture;
import org.mmoestream.model.Batch;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.ParamLayout;
import org.mmoestream.model.TaskSpec;
import org.mmoestream.model.optim.OptimizerConfig;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Training-step and forward-only throughput of the reference shape on the calling thread: 26
 * sparse fields x 100,000 buckets x dim 8 plus 13 dense inputs (221 wide); 3 experts [256, 128];
 * linear gates; towers [64]; 2 binary tasks; Adagrad. Batches are generated in advance with
 * Zipf-like ids (as the PyTorch peer does); each figure is the median of timed repeats after a
 * warm-up.
 */
public final class ModelBench {
    private final double seconds;
    private final int repeats;
    private final PrintStream out;

    public ModelBench(double seconds, int repeats, PrintStream out) {
        this.seconds = seconds;
        this.repeats = repeats;
        this.out = out;
    }

    private boolean batchNorm;

    /** The reference shape with batch normalization (figures named {@code model.bn_train...}). */
    public ModelBench withBatchNorm(boolean on) {
        batchNorm = on;
        return this;
    }

    private int[] threads;

    /**
     * Also the training step on each of {@code threads} threads (null: not), with the CPU time per
     * example of the calling thread and the step's threads ({@code model.threads<T>.train...}).
     */
    public ModelBench withThreads(int[] threads) {
        if (threads != null && java.util.Arrays.stream(threads).anyMatch(t -> t < 1)) {
            throw new IllegalArgumentException("--threads must be at least 1");
        }
        this.threads = threads;
        return this;
    }

    /** The reference shape. */
    public static ModelSpec referenceSpec() {
        List<SparseFeature> sparse = new ArrayList<>();
        for (int i = 0; i < 26; i++) {
            sparse.add(new SparseFeature("c" + i, "c" + i, 100_000, 8, false, null));
        }
        List<DenseFeature> dense = new ArrayList<>();
        for (int i = 0; i < 13; i++) {
            dense.add(new DenseFeature("i" + i, "i" + i, DenseTransform.NONE));
        }
        Architecture arch = Architecture.defaults().withEsmm(false);
        return new ModelSpec(
                "reference",
                new FeatureSpec(sparse, dense),
                List.of(TaskSpec.binary("ctr", "ctr", null), TaskSpec.binary("task2", "task2", null)),
                arch,
                OptimizerConfig.defaults(OptimizerConfig.Kind.ADAGRAD),
                CsvLayout.withHeader());
    }

    /** Multiply-adds per example in the dense layers (forward). */
    public static long macsPerExample(MmoeModel m) {
        long macs = 0;
        for (ParamLayout.Entry e : m.network().layout().entries()) {
            if (e.weight()) {
                macs += (long) e.rows() * e.cols();
            }
        }
        return macs;
    }

    /** splitmix64's finalizer. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    static List<Batch> batches(ModelSpec spec, int batch, int count, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<Batch> out = new ArrayList<>();
        for (int k = 0; k < count; k++) {
            List<EncodedExample> rows = new ArrayList<>();
            for (int r = 0; r < batch; r++) {
                int[][] ids = new int[26][];
                for (int f = 0; f < 26; f++) {
                    // Zipf(1.2)-like raw ids (heavy head, unbounded tail), mixed into buckets by field, as
                    // the PyTorch peer does (numpy's zipf(1.2), splitmix64 salted by the field).
                    long raw = (long) Math.floor(Math.pow(1 - rnd.nextDouble(), -1 / 0.2));
                    ids[f] =
                            new int[] {(int) Long.remainderUnsigned(mix(raw + 0x9E3779B97F4A7C15L * (f + 1)), 100_000)};
                }
                double[] dense = new double[13];
                for (int i = 0; i < 13; i++) {
                    dense[i] = rnd.nextGaussian();
                }
                rows.add(new EncodedExample(
                        ids, dense, new float[] {rnd.nextDouble() < 0.3 ? 1 : 0, rnd.nextDouble() < 0.1 ? 1 : 0}));
            }
            out.add(Batch.of(rows));
        }
        return out;
    }

    public void run(int[] batchSizes) {
        ModelSpec spec = referenceSpec();
        if (batchNorm) {
            spec = spec.withArchitecture(spec.architecture().withBatchNorm(true));
        }
        MmoeModel model = MmoeModel.create(spec, 1, DataType.FLOAT);
        long macs = macsPerExample(model);
        out.printf(Locale.ROOT, "model.flops_per_example.forward %d FLOP%n", 2 * macs);
        out.printf(Locale.ROOT, "model.flops_per_example.train %d FLOP%n", 6 * macs);
        if (threads != null) {
            // The figures on one thread are those of threads1.
            runThreads(spec, batchSizes, macs);
            return;
        }
        for (int b : batchSizes) {
            // As the PyTorch peer: a pool of max(8, 16384 / b) distinct batches (at most 4,096), so every
            // batch size sees at least 4,096 distinct examples and the tables are not all in cache.
            List<Batch> data = batches(spec, b, Math.min(4096, Math.max(8, 16384 / b)), 7);
            double train = measure(() -> {}, data, model, true);
            report("train", b, train, 6 * macs);
            if (b == 1 || b == 256 || b == batchSizes[batchSizes.length - 1]) {
                double fwd = measure(() -> {}, data, model, false);
                report("forward", b, fwd, 2 * macs);
            }
        }
    }

    /**
     * The training step on T threads for each T of {@link #withThreads}, on one model whose step
     * switches between them (the same tables in the same memory for every T, whose placement moves
     * a fresh model's speed by a fifth from one JVM to the next): after a warm-up on each, the
     * repeats go round the Ts in turn. Per T examples per second (median over the repeats) and CPU
     * seconds per example of the calling thread and the step's threads (over all repeats), and per T
     * above 1 the CPU per example against one thread's.
     */
    private void runThreads(ModelSpec spec, int[] batchSizes, long macs) {
        for (int b : batchSizes) {
            List<Batch> data = batches(spec, b, Math.min(4096, Math.max(8, 16384 / b)), 7);
            MmoeModel model = MmoeModel.create(spec, 1, DataType.FLOAT);
            try {
                double[][] rates = new double[threads.length][repeats];
                long[] nanos = new long[threads.length];
                long[] rows = new long[threads.length];
                for (int k = 0; k < threads.length; k++) {
                    model.useThreads(threads[k]);
                    run(data, model, true, seconds / 2 / threads.length);
                }
                for (int i = 0; i < repeats; i++) {
                    for (int k = 0; k < threads.length; k++) {
                        model.useThreads(threads[k]);
                        run(data, model, true, 0.2);
                        java.util.Map<Long, Long> cpu0 = stepCpuNanos();
                        long s0 = model.examplesSeen();
                        rates[k][i] = run(data, model, true, seconds / repeats);
                        rows[k] += model.examplesSeen() - s0;
                        for (var e : stepCpuNanos().entrySet()) {
                            nanos[k] += e.getValue() - cpu0.getOrDefault(e.getKey(), 0L);
                        }
                    }
                }
                double cpuOne = Double.NaN;
                for (int k = 0; k < threads.length; k++) {
                    java.util.Arrays.sort(rates[k]);
                    double rate = rates[k][repeats / 2];
                    double cpu = nanos[k] / 1e9 / Math.max(1, rows[k]);
                    String name = "model.threads" + threads[k] + ".train.batch" + b;
                    out.printf(Locale.ROOT, "%s.examples_per_second %.0f examples/s%n", name, rate);
                    out.printf(Locale.ROOT, "%s.gflops %.1f GFLOP/s%n", name, rate * 6 * macs / 1e9);
                    out.printf(Locale.ROOT, "%s.cpu_seconds_per_example %.3e s%n", name, cpu);
                    if (threads[k] == 1) {
                        cpuOne = cpu;
                    } else if (!Double.isNaN(cpuOne)) {
                        out.printf(Locale.ROOT, "%s.cpu_vs_threads1 %.3f x%n", name, cpu / cpuOne);
                    }
                }
            } finally {
                model.close();
            }
        }
    }

    /** CPU time so far of the calling thread and of every live step thread ({@code mmoe-step-*}), by thread id. */
    private static java.util.Map<Long, Long> stepCpuNanos() {
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        java.util.Map<Long, Long> cpu = new java.util.HashMap<>();
        cpu.put(Thread.currentThread().getId(), mx.getCurrentThreadCpuTime());
        for (var info : mx.getThreadInfo(mx.getAllThreadIds())) {
            if (info != null && info.getThreadName().startsWith("mmoe-step-")) {
                long t = mx.getThreadCpuTime(info.getThreadId());
                if (t >= 0) {
                    cpu.put(info.getThreadId(), t);
                }
            }
        }
        return cpu;
    }

    private void report(String kind, int b, double eps, long flops) {
        String k = batchNorm ? "bn_" + kind : kind;
        out.printf(Locale.ROOT, "model.%s.batch%d.examples_per_second %.0f examples/s%n", k, b, eps);
        out.printf(Locale.ROOT, "model.%s.batch%d.gflops %.1f GFLOP/s%n", k, b, eps * flops / 1e9);
    }

    private double measure(Runnable unused, List<Batch> data, MmoeModel model, boolean train) {
        run(data, model, train, seconds / 2);
        double[] rates = new double[repeats];
        for (int i = 0; i < repeats; i++) {
            rates[i] = run(data, model, train, seconds / repeats);
        }
        java.util.Arrays.sort(rates);
        return rates[repeats / 2];
    }

    /** Runs for about {@code secs} and returns examples per second. */
    private static double run(List<Batch> data, MmoeModel model, boolean train, double secs) {
        long t0 = System.nanoTime();
        long deadline = t0 + (long) (secs * 1e9);
        long rows = 0;
        int i = 0;
        long now;
        do {
            Batch b = data.get(i++ % data.size());
            if (train) {
                model.trainStep(b);
            } else {
                model.predict(b);
            }
            rows += b.rows();
            now = System.nanoTime();
        } while (now < deadline);
        return rows / ((now - t0) / 1e9);
    }
}
