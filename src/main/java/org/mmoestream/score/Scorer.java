package org.mmoestream.score;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.Batch;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.publish.ModelReader;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Scores requests in-process, for a serving system that does not run Flink, and inside the
 * scoring job. Built from a snapshot file or by following the model topic. Thread-safe: a call
 * scores with exactly one installed version (no score mixes the tensors of two versions), and a
 * new version replaces the old one atomically for later calls.
 *
 * <p>Each model has two parameter buffers: a new version is copied into the one not serving
 * (waiting at most for the batch that still uses it), then becomes current. So installing a
 * version allocates nothing once both buffers exist, and a version of the reference shape (83 MB)
 * does not leave a dead copy of itself off-heap for the garbage collector to find.
 */
public final class Scorer implements AutoCloseable {

    /** The scores of one request: per head (ctr, cvr, ctcvr, ...) and the version used. */
    public record Score(String model, long version, List<String> heads, double[] values) {
        public double head(String name) {
            int i = heads.indexOf(name);
            return i < 0 ? Double.NaN : values[i];
        }
    }

    /** The two parameter buffers of one model id, and which one serves. */
    private static final class Slot {
        final ModelSpec spec;
        final MmoeModel[] buffers = new MmoeModel[2];
        final ReentrantLock[] locks = {new ReentrantLock(), new ReentrantLock()};
        /** Bumped (under the buffer's lock) each time a buffer receives a version. */
        final long[] generation = new long[2];

        final ExampleEncoder encoder;
        int current = -1;

        Slot(ModelSpec spec) {
            this.spec = spec;
            this.encoder = new ExampleEncoder(spec);
        }
    }

    /** One installed version: its identity and the buffer that holds it. */
    private record Version(String model, long version, long createdAt, Slot slot, int buffer, long generation) {}

    private final AtomicReference<Map<String, Version>> versions = new AtomicReference<>(Map.of());
    /** Guards {@link #slots} and the buffers' roles; installs are serialized. */
    private final Object installLock = new Object();

    private final Map<String, Slot> slots = new HashMap<>();
    private ModelFollower follower;

    private Scorer() {}

    /** A scorer with no model yet; versions come through {@link #install}. */
    public static Scorer empty() {
        return new Scorer();
    }

    /** A scorer of the full snapshot in {@code file}. */
    public static Scorer fromSnapshot(Path file) throws java.io.IOException {
        SnapshotState s = new SnapshotState();
        if (!s.apply(Files.readAllBytes(file))) {
            throw new IllegalArgumentException(file + " is a delta; a scorer needs a full snapshot");
        }
        Scorer scorer = new Scorer();
        scorer.install(s);
        return scorer;
    }

    /**
     * A scorer that follows {@code topic}, installing every new version as it is committed; it has
     * caught up with the topic (or given up after a minute) when this returns.
     */
    public static Scorer follow(String bootstrap, String topic, Properties client) {
        Scorer scorer = new Scorer();
        scorer.follower = ModelFollower.start(
                () -> new ModelReader(bootstrap, topic, null, client),
                scorer,
                r -> {},
                java.time.Duration.ofMinutes(1));
        scorer.follower.awaitCaughtUp(java.time.Duration.ofMinutes(1));
        return scorer;
    }

    /** "model@version, ..." of the installed versions, for a metric. */
    public String describe() {
        StringBuilder sb = new StringBuilder();
        versions.get()
                .values()
                .forEach(v -> sb.append(sb.length() == 0 ? "" : ", ")
                        .append(v.model)
                        .append('@')
                        .append(v.version));
        return sb.toString();
    }

    /**
     * Installs a copy of {@code s}'s current model unless that version (or a later one) is already
     * installed. Blocks at most for the batch that is still scoring with the buffer it overwrites.
     */
    public void install(SnapshotState s) {
        synchronized (installLock) {
            String id = s.modelId();
            Version cur = versions.get().get(id);
            if (cur != null && cur.version >= s.version()) {
                return;
            }
            ModelSpec spec = s.model().spec();
            Slot slot = slots.get(id);
            if (slot == null || !slot.spec.equals(spec)) {
                slot = new Slot(spec);
                slots.put(id, slot);
            }
            int target = slot.current < 0 ? 0 : 1 - slot.current;
            long generation;
            slot.locks[target].lock();
            try {
                if (slot.buffers[target] == null) {
                    slot.buffers[target] = MmoeModel.create(spec, 0, DataType.FLOAT);
                }
                slot.buffers[target].copyParametersFrom(s.model());
                generation = ++slot.generation[target];
            } finally {
                slot.locks[target].unlock();
            }
            slot.current = target;
            long created = Long.parseLong(s.metadata().getOrDefault("created_at", "0"));
            Version v = new Version(id, s.version(), created, slot, target, generation);
            Map<String, Version> next = new HashMap<>(versions.get());
            next.put(id, v);
            versions.set(Map.copyOf(next));
        }
    }

    /** The installed version of {@code model}, or -1. */
    public long version(String model) {
        Version v = versions.get().get(model);
        return v == null ? -1 : v.version;
    }

    /** Creation time (epoch ms) of the installed version of {@code model}, or -1. */
    public long createdAt(String model) {
        Version v = versions.get().get(model);
        return v == null ? -1 : v.createdAt;
    }

    /** The ids of the models with an installed version. */
    public java.util.Set<String> models() {
        return versions.get().keySet();
    }

    /**
     * Holds the current version of one model for one thread, so a batch is encoded and scored by
     * that version alone; close it after the batch (a new version is installed meanwhile into the
     * other buffer, and the one after that waits for the close).
     */
    public static final class Lease implements AutoCloseable {
        private final Version v;
        private final ReentrantLock lock;

        private Lease(Version v, ReentrantLock lock) {
            this.v = v;
            this.lock = lock;
        }

        public String model() {
            return v.model;
        }

        public long version() {
            return v.version;
        }

        /** Creation time (epoch ms) of this version. */
        public long createdAt() {
            return v.createdAt;
        }

        public ModelSpec spec() {
            return v.slot.spec;
        }

        /** The names of the scores, in the order of {@link #predict}'s rows ({@link ModelSpec#heads()}). */
        public List<String> heads() {
            return v.slot.spec.heads();
        }

        /** The model input of one request; IllegalArgumentException naming the feature that is bad. */
        public EncodedExample encode(String featuresJson) {
            return v.slot.encoder.encodeFeatures(featuresJson, null);
        }

        /** Probabilities [head][row] of the rows, in one forward pass. */
        public double[][] predict(List<EncodedExample> rows) {
            return v.slot.buffers[v.buffer].predict(Batch.of(rows));
        }

        @Override
        public void close() {
            lock.unlock();
        }
    }

    /** A lease on the current version of {@code model}, or null when it has none; close it. */
    public Lease lease(String model) {
        while (true) {
            Version v = versions.get().get(model);
            if (v == null) {
                return null;
            }
            ReentrantLock l = v.slot.locks[v.buffer];
            l.lock();
            if (v.slot.generation[v.buffer] == v.generation) {
                return new Lease(v, l);
            }
            // The buffer has since received a newer version: take the current one.
            l.unlock();
        }
    }

    /** Scores one request (its features as JSON). */
    public Score score(String model, String featuresJson) {
        return score(model, List.of(featuresJson)).get(0);
    }

    /**
     * Scores a batch of requests with one version of {@code model}; throws IllegalArgumentException
     * for an unknown model or a request whose features cannot be encoded (naming the feature).
     */
    public List<Score> score(String model, List<String> featuresJson) {
        try (Lease l = lease(model)) {
            if (l == null) {
                throw new IllegalArgumentException("unknown model '" + model + "'");
            }
            List<EncodedExample> rows = new ArrayList<>(featuresJson.size());
            for (String f : featuresJson) {
                rows.add(l.encode(f));
            }
            double[][] p = l.predict(rows);
            List<String> heads = l.heads();
            List<Score> out = new ArrayList<>(rows.size());
            for (int r = 0; r < rows.size(); r++) {
                double[] values = new double[heads.size()];
                for (int h = 0; h < values.length; h++) {
                    values[h] = p[h][r];
                }
                out.add(new Score(model, l.version(), heads, values));
            }
            return out;
        }
    }

    @Override
    public void close() throws InterruptedException {
        if (follower != null) {
            follower.close();
        }
    }
}
