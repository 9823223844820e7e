package org.mmoestream.score;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.event.LabeledExample;
import org.mmoestream.model.Batch;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.Variant;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.model.codec.Snapshots;
import org.mmoestream.testing.TestSpecs;
import org.nd4j.linalg.api.buffer.DataType;

class ScorerTest {
    private static final ModelSpec SPEC = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());

    @TempDir
    Path dir;

    private static List<String> requests(int n) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add("{\"user\":\"u" + (i % 17) + "\",\"item\":\"i" + (i % 5) + "\",\"tags\":[\"t1\"],\"price\":" + i
                    + ",\"age\":" + (20 + i) + "}");
        }
        return out;
    }

    /** Snapshots of versions 1..n of a model trained a little more for each. */
    private static List<byte[]> versions(int n) {
        MmoeModel m = MmoeModel.create(SPEC, 3, DataType.FLOAT);
        ExampleEncoder enc = new ExampleEncoder(SPEC);
        List<byte[]> out = new ArrayList<>();
        for (int v = 1; v <= n; v++) {
            List<org.mmoestream.feature.EncodedExample> rows = new ArrayList<>();
            for (String r : requests(32)) {
                rows.add(enc.encode(r, v % 2, 0));
            }
            m.trainStep(Batch.of(rows));
            out.add(Snapshots.full(
                    m,
                    new Snapshots.Meta("m1", v, Snapshots.FULL, 0, v * 32L, 1_700_000_000_000L + v, "{}"),
                    Snapshots.tablesOf(m)));
        }
        return out;
    }

    @Test
    void scoresFromASnapshotFileLikeTheModel() throws Exception {
        byte[] snapshot = versions(1).get(0);
        Path file = dir.resolve("m.safetensors");
        Files.write(file, snapshot);
        try (Scorer s = Scorer.fromSnapshot(file)) {
            SnapshotState state = new SnapshotState();
            state.apply(snapshot);
            ExampleEncoder enc = new ExampleEncoder(SPEC);
            List<String> req = requests(10);
            double[][] expected = state.model()
                    .predict(Batch.of(
                            req.stream().map(r -> enc.encodeFeatures(r, null)).toList()));
            List<Scorer.Score> got = s.score("m1", req);
            for (int i = 0; i < req.size(); i++) {
                assertEquals(1, got.get(i).version());
                assertEquals(expected[0][i], got.get(i).head("ctr"), 1e-12);
                assertEquals(expected[2][i], got.get(i).head("ctcvr"), 1e-12);
                assertEquals(
                        got.get(i).head("ctr") * got.get(i).head("cvr"),
                        got.get(i).head("ctcvr"),
                        1e-12);
            }
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.score("other", req));
            assertTrue(e.getMessage().contains("unknown model 'other'"));
            e = assertThrows(IllegalArgumentException.class, () -> s.score("m1", "{\"price\":\"cheap\"}"));
            assertTrue(e.getMessage().contains("price"), e.getMessage());
        }
    }

    @Test
    void everyConcurrentScoreComesFromOneWholeVersion() throws Exception {
        List<byte[]> snapshots = versions(6);
        List<String> req = requests(40);
        // Expected scores of each version, computed alone.
        Map<Long, double[]> expected = new ConcurrentHashMap<>();
        for (byte[] b : snapshots) {
            SnapshotState st = new SnapshotState();
            st.apply(b);
            try (Scorer one = new ScorerFactory().of(st)) {
                expected.put(
                        st.version(),
                        one.score("m1", req).stream()
                                .mapToDouble(x -> x.head("ctr"))
                                .toArray());
            }
        }
        SnapshotState first = new SnapshotState();
        first.apply(snapshots.get(0));
        try (Scorer scorer = new ScorerFactory().of(first)) {
            AtomicBoolean stop = new AtomicBoolean();
            List<Throwable> errors = new CopyOnWriteArrayList<>();
            Map<Long, Integer> seen = new ConcurrentHashMap<>();
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                Thread th = new Thread(() -> {
                    try {
                        while (!stop.get()) {
                            List<Scorer.Score> got = scorer.score("m1", req);
                            long v = got.get(0).version();
                            double[] ctr =
                                    got.stream().mapToDouble(x -> x.head("ctr")).toArray();
                            assertTrue(got.stream().allMatch(x -> x.version() == v), "one version per batch");
                            assertArrayEquals(expected.get(v), ctr, 0, "scores of version " + v);
                            seen.merge(v, 1, Integer::sum);
                        }
                    } catch (Throwable e) {
                        errors.add(e);
                    }
                });
                th.start();
                threads.add(th);
            }
            for (byte[] b : snapshots.subList(1, snapshots.size())) {
                Thread.sleep(30);
                SnapshotState st = new SnapshotState();
                st.apply(b);
                scorer.install(st);
            }
            Thread.sleep(30);
            stop.set(true);
            for (Thread th : threads) {
                th.join();
            }
            assertTrue(errors.isEmpty(), errors.isEmpty() ? "" : errors.get(0).toString());
            assertEquals(6, scorer.version("m1"));
            assertTrue(seen.size() >= 2, "scores from several versions: " + seen);
        }
    }

    /** Builds a scorer holding one version (test helper). */
    static final class ScorerFactory {
        Scorer of(SnapshotState s) throws Exception {
            Path f = Files.createTempFile("v", ".safetensors");
            Files.write(
                    f,
                    Snapshots.full(
                            s.model(),
                            new Snapshots.Meta(s.modelId(), s.version(), Snapshots.FULL, 0, s.examplesSeen(), 1L, "{}"),
                            Snapshots.tablesOf(s.model())));
            return Scorer.fromSnapshot(f);
        }
    }

    static LabeledExample unused() {
        return null;
    }
}
