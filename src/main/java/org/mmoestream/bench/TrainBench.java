package org.mmoestream.bench;

import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.event.LabeledExample;
import org.mmoestream.event.serde.JsonRecords;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.job.Environments;
import org.mmoestream.job.KafkaIo;
import org.mmoestream.job.PipelineJob;
import org.mmoestream.local.EmbeddedKafka;
import org.mmoestream.model.Batch;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.codec.Safetensors;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.offline.Evaluation;
import org.mmoestream.publish.ChunkAssembler;
import org.mmoestream.publish.ModelChunk;
import org.mmoestream.publish.ModelReader;
import org.mmoestream.publish.ModelRecords;
import org.mmoestream.train.SyncTraffic;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Trainer-bound throughput: labeled examples of the reference shape are already on an examples
 * topic of one partition (so every {@code train.parallelism} reads them in the same order); a
 * bounded job reads them, trains one model and publishes versions (RocksDB, checkpoints as given,
 * 10 s by default as in flink-conf/, versions every 2 s, exactly-once model sink).
 * Examples per second is the steady state: examples trained from the first version 5 s into the
 * run (after the JIT's busiest seconds) to the last, over that time; the model step
 * alone is measured on the same examples in the same run, and their ratio is the share of the
 * trainer's time that goes to the model. CPU seconds per example count the training threads' CPU
 * time; AUC is the final version's on held-out examples.
 */
public final class TrainBench {
    private static final int BATCH = 256;
    private static final int HELD_OUT = 20_000;
    private static final long WARM_UP_MILLIS = 5_000;

    private final int examples;
    private final String checkpointInterval;
    private final org.mmoestream.model.optim.OptimizerConfig.Kind optimizer;
    private final PrintStream out;

    /**
     * {@code checkpointInterval}: as Flink writes it ("10 s", the production default of flink-conf/);
     * {@code optimizer}: the reference shape's optimizer (Adagrad), or another with its defaults.
     */
    public TrainBench(
            int examples,
            String checkpointInterval,
            org.mmoestream.model.optim.OptimizerConfig.Kind optimizer,
            PrintStream out) {
        this.examples = examples;
        this.checkpointInterval = checkpointInterval;
        this.optimizer = optimizer;
        this.out = out;
    }

    private int[] threads = {1};

    /** Each parallelism also at these {@code train.threads} (figures {@code train.parallelism<N>.threads<T>}). */
    public TrainBench withThreads(int[] threads) {
        if (threads != null) {
            if (threads.length == 0 || java.util.Arrays.stream(threads).anyMatch(t -> t < 1)) {
                throw new IllegalArgumentException("--threads must be at least 1");
            }
            this.threads = threads;
        }
        return this;
    }

    private double[] densities = {1};

    /**
     * Each parallelism above 1 also at these {@code train.gradient-density} below 1 (figures {@code
     * train.parallelism<N>.density<D>}, D with '_' for the point); each in (0, 1].
     */
    public TrainBench withGradientDensities(double[] densities) {
        this.densities = densities.clone();
        return this;
    }

    /** The figures' name of a run at {@code train.parallelism} p, {@code train.threads} t, density d. */
    static String name(int p, int t, double d) {
        return "train.parallelism" + p + (t > 1 ? ".threads" + t : "") + densityName(d);
    }

    /** {@code .density<D>} (D with '_' for the point) for a density below 1, else nothing. */
    static String densityName(double d) {
        return d < 1 ? ".density" + Double.toString(d).replace('.', '_') : "";
    }

    public void run(int[] parallelisms) throws Exception {
        run(parallelisms, null);
    }

    /**
     * As {@link #run(int[])}; with {@code census} (the census-income file) its rows instead of
     * simulated examples: rows 0 and 1 mod 4 in file order on the topic, row 3 mod 4 held out,
     * income as the click and marital status as the conversion, its own spec.
     */
    public void run(int[] parallelisms, java.nio.file.Path census) throws Exception {
        if (census != null) {
            ModelSpec spec = org.mmoestream.model.SpecLoader.load(java.nio.file.Path.of("examples/census-income.yaml"));
            measure(spec, census(spec, census, "#mod4=0,1"), census(spec, census, "#mod4=3"), parallelisms);
            return;
        }
        ModelSpec ref = PipelineBench.spec();
        ModelSpec spec = ref.optimizer().kind() == optimizer
                ? ref
                : new ModelSpec(
                        ref.name(),
                        ref.features(),
                        ref.tasks(),
                        ref.architecture(),
                        org.mmoestream.model.optim.OptimizerConfig.defaults(optimizer),
                        ref.csv());
        long t0 = System.currentTimeMillis() - 3_600_000L;
        List<LabeledExample> train = LabeledData.generate("m", "t", examples, 11, t0);
        List<LabeledExample> heldOut = LabeledData.generate("m", "h", HELD_OUT, 12, t0 + examples);
        measure(spec, train, heldOut, parallelisms);
    }

    /** The rows of {@code file} that {@code selector} keeps, as labeled examples of model m. */
    private static List<LabeledExample> census(ModelSpec spec, java.nio.file.Path file, String selector) {
        int click = -1;
        int conversion = -1;
        for (int t = 0; t < spec.tasks().size(); t++) {
            String event = spec.tasks().get(t).event();
            click = "click".equals(event) ? t : click;
            conversion = "conversion".equals(event) ? t : conversion;
        }
        java.util.Set<String> dense = new java.util.HashSet<>();
        spec.features().dense().forEach(d -> dense.add(d.column()));
        long t0 = System.currentTimeMillis() - 3_600_000L;
        List<LabeledExample> out = new ArrayList<>();
        int c = click;
        int v = conversion;
        org.mmoestream.offline.RowFilter filter = org.mmoestream.offline.RowFilter.parse(file + selector, "--census")
                .filter();
        new org.mmoestream.offline.CsvExamples(spec).scan(file, filter, true, row -> {
            LabeledExample e = new LabeledExample();
            e.requestId = selector + row.number();
            e.model = "m";
            e.features = org.mmoestream.replay.CsvReplay.features(row, dense).toString();
            e.click = row.example().labels()[c] == 1f ? 1 : 0;
            e.conversion = row.example().labels()[v] == 1f ? 1 : 0;
            e.impressionTs = t0 + out.size();
            out.add(e);
        });
        return out;
    }

    private void measure(ModelSpec spec, List<LabeledExample> train, List<LabeledExample> heldOut, int[] parallelisms)
            throws Exception {
        double step = modelStep(spec, train);
        out.printf(Locale.ROOT, "train.model_step_examples_per_second %.0f examples/s%n", step);
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            kafka.createTopics(Map.of("train-examples", 1));
            write(kafka.bootstrapServers(), "train-examples", train);
            for (int p : parallelisms) {
                for (int t : threads) {
                    for (double d : p > 1 ? densities : new double[] {1}) {
                        report(p, t, d, step, job(kafka, spec, p, t, d, heldOut));
                    }
                }
            }
        }
    }

    private void report(int p, int t, double d, double step, Result r) {
        String name = name(p, t, d);
        out.printf(Locale.ROOT, "%s.examples %d examples%n", name, r.trained);
        out.printf(Locale.ROOT, "%s.examples_per_second %.0f examples/s%n", name, r.steady);
        out.printf(Locale.ROOT, "%s.whole_run_examples_per_second %.0f examples/s%n", name, r.whole);
        out.printf(Locale.ROOT, "%s.cpu_seconds_per_example %.3e s%n", name, r.cpuPerExample);
        out.printf(Locale.ROOT, "%s.sync_bytes_per_example %.0f bytes%n", name, r.syncBytesPerExample);
        if (p > 1) {
            // The only lag between replicas: shares computed on a version older than the round they joined.
            out.printf(Locale.ROOT, "%s.shares %d shares%n", name, r.shares);
            out.printf(Locale.ROOT, "%s.stale_shares %d shares%n", name, r.staleShares);
            out.printf(Locale.ROOT, "%s.stale_examples %d examples%n", name, r.staleExamples);
            if (r.staleShares > 0) {
                out.printf(Locale.ROOT, "%s.first_stale_share_at %d examples%n", name, r.firstStaleAt);
            }
        }
        for (Map.Entry<String, Double> a : r.auc.entrySet()) {
            out.printf(Locale.ROOT, "%s.auc.%s %.4f%n", name, a.getKey(), a.getValue());
        }
        if (p == 1 && t == 1) {
            out.printf(Locale.ROOT, "train.examples_per_second %.0f examples/s%n", r.steady);
            out.printf(Locale.ROOT, "train.step_ratio %.2f%n", r.steady / step);
        }
        out.flush();
    }

    /**
     * The model step alone: the same examples, encoded in advance, trained in batches of 256 (the
     * job's batch size) on this thread, with nothing else running.
     */
    private static double modelStep(ModelSpec spec, List<LabeledExample> xs) {
        ExampleEncoder enc = new ExampleEncoder(spec);
        List<Batch> batches = new ArrayList<>();
        for (int i = 0; i + BATCH <= xs.size(); i += BATCH) {
            List<EncodedExample> rows = new ArrayList<>(BATCH);
            for (LabeledExample e : xs.subList(i, i + BATCH)) {
                rows.add(enc.encode(e.features, e.click, e.conversion));
            }
            batches.add(Batch.of(rows));
        }
        // The median of three passes over all the batches, each with a fresh model, as the job trains.
        double[] rates = new double[3];
        for (int pass = 0; pass < rates.length; pass++) {
            MmoeModel model = MmoeModel.create(spec, 42, DataType.FLOAT);
            long start = System.nanoTime();
            for (Batch b : batches) {
                model.trainStep(b);
            }
            rates[pass] = (double) batches.size() * BATCH / ((System.nanoTime() - start) / 1e9);
        }
        java.util.Arrays.sort(rates);
        return rates[1];
    }

    private static void write(String bootstrap, String topic, List<LabeledExample> xs) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(
                Map.of("bootstrap.servers", bootstrap, "linger.ms", "20", "batch.size", String.valueOf(512 * 1024)),
                new ByteArraySerializer(),
                new ByteArraySerializer())) {
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            for (LabeledExample e : xs) {
                acks.add(p.send(new ProducerRecord<>(
                        topic, e.requestId.getBytes(StandardCharsets.UTF_8), JsonRecords.example(e))));
            }
            for (Future<RecordMetadata> a : acks) {
                a.get();
            }
        }
    }

    /** What one run measured. */
    private record Result(
            long trained,
            double steady,
            double whole,
            double cpuPerExample,
            double syncBytesPerExample,
            long shares,
            long staleShares,
            long staleExamples,
            long firstStaleAt,
            Map<String, Double> auc) {}

    private Result job(EmbeddedKafka kafka, ModelSpec spec, int p, int t, double d, List<LabeledExample> heldOut)
            throws Exception {
        String run = "train-p" + p + (t > 1 ? "-t" + t : "") + (d < 1 ? "-d" + Double.toString(d) : "");
        Map<String, String> m = new HashMap<>(JobConfig.topicsWithPrefix(run));
        m.put(Key.TOPIC_EXAMPLES.yaml(), "train-examples");
        m.put(Key.BOOTSTRAP.yaml(), kafka.bootstrapServers());
        m.put(Key.GROUP_ID.yaml(), "bench-" + run);
        m.put(Key.PUBLISH_INTERVAL.yaml(), "2 s");
        m.put(Key.TRAIN_PARALLELISM.yaml(), String.valueOf(p));
        m.put(Key.TRAIN_THREADS.yaml(), String.valueOf(t));
        m.put(Key.GRADIENT_DENSITY.yaml(), String.valueOf(d));
        for (Key<?> k : List.of(Key.SYNC_INTERVAL, Key.BATCH_SIZE)) {
            String v = System.getProperty("mmoe.bench." + k.yaml());
            if (v != null) {
                m.put(k.yaml(), v);
            }
        }
        JobConfig cfg = JobConfig.of(m);
        kafka.createTopics(Map.of(cfg.string(Key.TOPIC_MODEL), 1, cfg.string(Key.TOPIC_TRAIN_SYNC), 1));
        long gradientBytes = SyncTraffic.GRADIENT_BYTES.sum();
        long syncBytes = SyncTraffic.SYNC_BYTES.sum();
        SyncTraffic.resetShares();
        StreamExecutionEnvironment env = Environments.localRocksDb(p, checkpointInterval);
        var encoded = env.fromSource(
                        KafkaIo.examplesSource(cfg, spec, true), WatermarkStrategy.noWatermarks(), "examples")
                .uid("examples-source");
        PipelineJob.train(cfg, spec, encoded, KafkaIo.modelSink(cfg, "bench-" + run));
        Map<Long, Long> cpu = new ConcurrentHashMap<>();
        AtomicBoolean done = new AtomicBoolean();
        Thread sampler = new Thread(() -> sampleCpu(cpu, done), "cpu-sampler");
        sampler.start();
        long start = System.nanoTime();
        env.execute("train-bench-" + run);
        double wall = (System.nanoTime() - start) / 1e9;
        done.set(true);
        sampler.join();
        long cpuNanos = cpu.values().stream().mapToLong(Long::longValue).sum();
        List<long[]> versions = versions(kafka.bootstrapServers(), cfg.string(Key.TOPIC_MODEL));
        // Steady state: from the first version at least WARM_UP_MILLIS after the first one (the JIT
        // compiles Flink's, Kafka's and RocksDB's code in the first seconds, on the same two cores).
        long[] first = versions.get(0);
        for (long[] v : versions) {
            if (v[0] >= versions.get(0)[0] + WARM_UP_MILLIS) {
                first = v;
                break;
            }
        }
        long[] last = versions.get(versions.size() - 1);
        double steady = last[0] > first[0] ? (last[1] - first[1]) * 1000.0 / (last[0] - first[0]) : Double.NaN;
        Map<String, Double> auc = new java.util.LinkedHashMap<>();
        try (ModelReader reader =
                new ModelReader(kafka.bootstrapServers(), cfg.string(Key.TOPIC_MODEL), "m", new Properties())) {
            reader.pollUntilQuiet(Duration.ofSeconds(3), Duration.ofMinutes(2));
            SnapshotState read = reader.model("m");
            // The AUC is the last version's: a reader that stopped short would score an older model.
            // (It reads to the topic's end, so it may be past the versions counted above, which stop
            // after 3 s without a record.)
            if (read == null || read.examplesSeen() < last[1]) {
                throw new IllegalStateException("the model read back from " + cfg.string(Key.TOPIC_MODEL) + " is "
                        + (read == null
                                ? "missing"
                                : "version " + read.version() + " with " + read.examplesSeen() + " examples")
                        + ", behind the last version, with " + last[1]);
            }
            MmoeModel model = read.model();
            ExampleEncoder enc = new ExampleEncoder(spec);
            List<EncodedExample> rows = heldOut.stream()
                    .map(e -> enc.encode(e.features, e.click, e.conversion))
                    .toList();
            auc.putAll(Evaluation.of(model, rows, 1024).aucs());
        }
        // Each replica reads every synchronization version.
        long traffic =
                SyncTraffic.GRADIENT_BYTES.sum() - gradientBytes + p * (SyncTraffic.SYNC_BYTES.sum() - syncBytes);
        return new Result(
                last[1],
                steady,
                last[1] / wall,
                cpuNanos / 1e9 / Math.max(1, last[1]),
                p == 1 ? 0 : (double) traffic / Math.max(1, last[1]),
                SyncTraffic.SHARES.sum(),
                SyncTraffic.STALE_SHARES.sum(),
                SyncTraffic.STALE_EXAMPLES.sum(),
                SyncTraffic.FIRST_STALE_AT.get(),
                auc);
    }

    /**
     * Samples, until {@code done}, the CPU time of the training threads: the trainer's task (or the
     * replicas' and the reducer's), and the replicas' sync followers.
     */
    private static void sampleCpu(Map<Long, Long> cpu, AtomicBoolean done) {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        while (!done.get()) {
            for (var info : mx.getThreadInfo(mx.getAllThreadIds())) {
                String name = info == null ? "" : info.getThreadName();
                if (name.startsWith("train")
                        || name.startsWith("mmoe-sync-follower")
                        || name.startsWith("mmoe-step-")) {
                    long t = mx.getThreadCpuTime(info.getThreadId());
                    if (t > 0) {
                        cpu.merge(info.getThreadId(), t, Math::max);
                    }
                }
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** (created_at, examples_seen) of every committed version, in order. */
    private static List<long[]> versions(String bootstrap, String topic) {
        List<long[]> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(
                Map.of(
                        "bootstrap.servers",
                        bootstrap,
                        "group.id",
                        "train-bench-versions-" + topic,
                        "auto.offset.reset",
                        "earliest",
                        "isolation.level",
                        "read_committed",
                        "max.partition.fetch.bytes",
                        String.valueOf(16 * 1024 * 1024)),
                new ByteArrayDeserializer(),
                new ByteArrayDeserializer())) {
            c.subscribe(List.of(topic));
            ChunkAssembler chunks = new ChunkAssembler();
            long quietSince = System.nanoTime();
            while (System.nanoTime() - quietSince < 3_000_000_000L) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    quietSince = System.nanoTime();
                    ModelChunk chunk = ModelRecords.chunkOf(r);
                    byte[] snapshot = chunk == null ? null : chunks.add(chunk);
                    if (snapshot != null) {
                        Map<String, String> md =
                                Safetensors.readHeader(snapshot).metadata();
                        out.add(new long[] {
                            Long.parseLong(md.get("created_at")), Long.parseLong(md.get("examples_seen"))
                        });
                    }
                }
            }
        }
        return out;
    }
}
