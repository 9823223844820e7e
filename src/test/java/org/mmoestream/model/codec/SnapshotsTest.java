package org.mmoestream.model.codec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.mmoestream.model.Batch;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.Variant;
import org.mmoestream.testing.TestSpecs;
import org.nd4j.linalg.api.buffer.DataType;

class SnapshotsTest {
    @TempDir
    Path dir;

    private static Snapshots.Meta meta(String kind, long version, long base) {
        return new Snapshots.Meta("m1", version, kind, base, 123, 1_700_000_000_000L, "{\"ctr\":{\"auc\":0.7}}");
    }

    private static void assertSameScores(MmoeModel a, MmoeModel b, Batch batch) {
        double[][] pa = a.predict(batch);
        double[][] pb = b.predict(batch);
        for (int h = 0; h < pa.length; h++) {
            assertArrayEquals(pa[h], pb[h], 1e-6, "head " + h);
        }
    }

    @Test
    void specSurvivesJson() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of(3));
        assertEquals(spec, SpecJson.read(SpecJson.write(spec)));
    }

    static List<ModelSpec> specs() {
        ModelSpec ple = TestSpecs.ctrCvr(Variant.PLE, true, List.of());
        return List.of(
                TestSpecs.ctrCvr(Variant.MMOE, true, List.of()),
                ple.withArchitecture(
                        ple.architecture().toBuilder().ple(2, 1, 3).experts(4).build()));
    }

    /** MMoE, and PLE with three levels (the reader builds the stack from the spec in the snapshot). */
    @ParameterizedTest
    @MethodSource("specs")
    void fullThenDeltaRebuildsTheModel(ModelSpec spec) {
        MmoeModel m = MmoeModel.create(spec, 5, DataType.FLOAT);
        for (int i = 0; i < 3; i++) {
            m.trainStep(TestSpecs.batch(spec, 32, i));
        }
        SnapshotState reader = new SnapshotState();
        assertTrue(reader.apply(Snapshots.full(m, meta(Snapshots.FULL, 1, 0), Snapshots.tablesOf(m))));
        Batch probe = TestSpecs.batch(spec, 50, 99);
        assertSameScores(m, reader.model(), probe);

        // Train more, then publish only what changed: dense tensors and the touched rows.
        Batch next = TestSpecs.batch(spec, 32, 7);
        m.trainStep(next);
        int[][] touched = new int[spec.features().sparse().size()][];
        for (int f = 0; f < touched.length; f++) {
            TreeSet<Integer> ids = new TreeSet<>();
            for (int id : next.ids(f)) {
                ids.add(id);
            }
            touched[f] = ids.stream().mapToInt(Integer::intValue).toArray();
        }
        byte[] delta = Snapshots.delta(m, meta(Snapshots.DELTA, 2, 1), touched, Snapshots.tablesOf(m));
        assertFalse(new SnapshotState().apply(delta), "a delta without its base is refused");
        assertTrue(reader.apply(delta));
        assertEquals(2, reader.version());
        assertSameScores(m, reader.model(), probe);
        assertEquals("123", reader.metadata().get("examples_seen"));
    }

    @Test
    void unknownFormatIsRejected() {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        MmoeModel m = MmoeModel.create(spec, 5, DataType.FLOAT);
        byte[] ok = Snapshots.full(m, meta(Snapshots.FULL, 1, 0), Snapshots.tablesOf(m));
        Safetensors.Content c = Safetensors.read(ok);
        Map<String, String> md = new HashMap<>(c.metadata());
        md.put("format", "mmoe-stream/9");
        byte[] bad = Safetensors.write(new Safetensors.Content(md, c.tensors()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new SnapshotState().apply(bad));
        assertTrue(e.getMessage().contains("mmoe-stream/9"));
        assertThrows(
                IllegalArgumentException.class, () -> Safetensors.read("garbage".getBytes(StandardCharsets.UTF_8)));
    }

    /** The snapshot loads in Python with numpy alone, and its tensors match the Java ones element by element. */
    @Test
    void pythonWithNumpyReadsTheSnapshot() throws Exception {
        ModelSpec spec = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        MmoeModel m = MmoeModel.create(spec, 5, DataType.FLOAT);
        m.trainStep(TestSpecs.batch(spec, 32, 1));
        byte[] bytes = Snapshots.full(m, meta(Snapshots.FULL, 4, 0), Snapshots.tablesOf(m));
        Path file = dir.resolve("model.safetensors");
        Files.write(file, bytes);
        Process p = new ProcessBuilder("/usr/bin/python3", "src/test/python/read_snapshot.py", file.toString())
                .redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        List<String> lines = out.lines().toList();
        assertEquals("meta mmoe-stream/1 full 4 2", lines.get(0));
        Safetensors.Content c = Safetensors.read(bytes);
        assertEquals(c.tensors().size(), lines.size() - 1);
        Map<String, String[]> py = new HashMap<>();
        for (String l : lines.subList(1, lines.size())) {
            String[] parts = l.split(" ");
            py.put(parts[0], parts);
        }
        for (Map.Entry<String, Safetensors.Tensor> e : c.tensors().entrySet()) {
            String[] parts = py.get(e.getKey());
            assertTrue(parts != null, "python saw " + e.getKey());
            assertEquals("float32", parts[1]);
            String shape = String.join(
                    "x",
                    java.util.Arrays.stream(e.getValue().shape())
                            .mapToObj(Long::toString)
                            .toList());
            assertEquals(shape, parts[2], e.getKey());
            float[] java = e.getValue().f32();
            String[] values = parts[3].split(",");
            assertEquals(java.length, values.length, e.getKey() + " elements");
            for (int i = 0; i < java.length; i++) {
                assertEquals(java[i], Double.parseDouble(values[i]), 0.0, e.getKey() + "[" + i + "]");
            }
        }
    }
}
