package org.mmoestream.publish;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Chunks in order make the snapshot; a missing, repeated or out-of-order chunk loses its version, said so. */
class ChunkAssemblerTest {
    private static byte[] bytes(int n, int seed) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + seed);
        }
        return b;
    }

    @Test
    void chunksInOrderMakeTheSnapshotAndModelsInterleave() {
        byte[] a = bytes(1000, 1);
        byte[] b = bytes(700, 2);
        List<ModelChunk> ca = ModelChunk.split("a", 1, "full", a, 300);
        List<ModelChunk> cb = ModelChunk.split("b", 5, "full", b, 300);
        ChunkAssembler asm = new ChunkAssembler();
        List<String> problems = new ArrayList<>();
        byte[] doneA = null;
        byte[] doneB = null;
        for (int i = 0; i < 4; i++) {
            if (i < ca.size()) {
                byte[] r = asm.add(ca.get(i), problems::add);
                doneA = r != null ? r : doneA;
            }
            if (i < cb.size()) {
                byte[] r = asm.add(cb.get(i), problems::add);
                doneB = r != null ? r : doneB;
            }
        }
        assertArrayEquals(a, doneA);
        assertArrayEquals(b, doneB);
        assertEquals(List.of(), problems);
    }

    @Test
    void aMissingChunkLosesItsVersionAndTheNextVersionIsWhole() {
        List<ModelChunk> v1 = ModelChunk.split("m", 1, "full", bytes(900, 3), 300);
        byte[] two = bytes(600, 4);
        List<ModelChunk> v2 = ModelChunk.split("m", 2, "delta", two, 300);
        ChunkAssembler asm = new ChunkAssembler();
        List<String> problems = new ArrayList<>();
        assertNull(asm.add(v1.get(0), problems::add));
        assertNull(asm.add(v1.get(2), problems::add));
        assertEquals(2, problems.size(), problems.toString());
        assertTrue(
                problems.get(0).contains("chunk 2/3 of version 1 of model 'm' does not follow chunk 0 of version 1"));
        assertTrue(problems.get(1).contains("version 1 of model 'm' is incomplete (1 of 3 chunks)"));
        assertNull(asm.add(v2.get(0), problems::add));
        assertArrayEquals(two, asm.add(v2.get(1), problems::add));
        assertEquals(2, problems.size());
    }

    @Test
    void aVersionCutOffByTheNextOneIsReportedAndAStrayChunkDropped() {
        List<ModelChunk> v1 = ModelChunk.split("m", 1, "full", bytes(900, 5), 300);
        byte[] two = bytes(200, 6);
        List<ModelChunk> v2 = ModelChunk.split("m", 2, "full", two, 300);
        ChunkAssembler asm = new ChunkAssembler();
        List<String> problems = new ArrayList<>();
        asm.add(v1.get(0), problems::add);
        asm.add(v1.get(1), problems::add);
        assertArrayEquals(two, asm.add(v2.get(0), problems::add));
        assertEquals(1, problems.size());
        assertTrue(
                problems.get(0).contains("version 1 of model 'm' was incomplete (2 of 3 chunks) when version 2 began"));
        // The rest of version 1 arrives late: it follows nothing.
        assertNull(asm.add(v1.get(2), problems::add));
        assertTrue(
                problems.get(1).contains("chunk 2/3 of version 1 of model 'm' does not follow a chunk 0"),
                problems.toString());
        // A repeated chunk 0 restarts its version (reported), which the next chunks then complete.
        byte[] three = bytes(600, 7);
        List<ModelChunk> v3 = ModelChunk.split("m", 3, "full", three, 300);
        asm.add(v3.get(0), problems::add);
        assertNull(asm.add(v3.get(0), problems::add));
        assertTrue(
                problems.get(2).contains("version 3 of model 'm' was incomplete (1 of 2 chunks) when version 3 began"));
        assertArrayEquals(three, asm.add(v3.get(1), problems::add));
        // A repeated last chunk follows nothing.
        assertNull(asm.add(v3.get(1), problems::add));
        assertEquals(4, problems.size(), problems.toString());
    }
}
