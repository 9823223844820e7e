package org.mmoestream.model.codec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.mmoestream.model.Batch;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.Variant;
import org.mmoestream.testing.TestSpecs;
import org.nd4j.linalg.api.buffer.DataType;

/** The reducer's synchronization versions, read back into a replica's copy of the model. */
class SyncSnapshotsTest {
    private static final ModelSpec SPEC = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());

    /** Every row's value, table by table (the first {@code dim} of what readRow gives), as the copy holds it. */
    private static float[][] rows(MmoeModel m) {
        int tables = m.spec().features().sparse().size();
        float[][] out = new float[tables][];
        for (int t = 0; t < tables; t++) {
            int dim = m.spec().features().sparse().get(t).dim();
            int n = m.spec().features().sparse().get(t).buckets();
            // Room for the value and up to two optimizer slots (Adam's); readRow fills what there is.
            float[] row = new float[3 * dim];
            out[t] = new float[n * dim];
            for (int r = 0; r < n; r++) {
                m.embeddings().readRow(t, r, row);
                System.arraycopy(row, 0, out[t], r * dim, dim);
            }
        }
        return out;
    }

    private static double[] dense(MmoeModel m) {
        double[] out = new double[m.network().paramAccess().length()];
        for (int i = 0; i < out.length; i++) {
            out[i] = m.network().paramAccess().get(i);
        }
        return out;
    }

    private static void assertSameModel(MmoeModel want, MmoeModel got) {
        assertArrayEquals(dense(want), dense(got));
        float[][] w = rows(want);
        float[][] g = rows(got);
        for (int t = 0; t < w.length; t++) {
            assertArrayEquals(w[t], g[t], "table " + t);
        }
        assertEquals(want.step(), got.step());
        assertEquals(want.examplesSeen(), got.examplesSeen());
    }

    /** The distinct ids of each table that {@code b} uses, ascending. */
    private static int[][] touched(Batch b, int tables) {
        int[][] out = new int[tables][];
        for (int f = 0; f < tables; f++) {
            TreeSet<Integer> ids = new TreeSet<>();
            for (int id : b.ids(f)) {
                ids.add(id);
            }
            out[f] = ids.stream().mapToInt(Integer::intValue).toArray();
        }
        return out;
    }

    @Test
    void aFullVersionThenDeltasRebuildTheReducersModel() {
        MmoeModel reducer = MmoeModel.create(SPEC, 5, DataType.FLOAT);
        reducer.trainStep(TestSpecs.batch(SPEC, 32, 1));
        MmoeModel replica = MmoeModel.create(SPEC, 6, DataType.FLOAT);
        assertNotEquals(rows(reducer)[0][0], rows(replica)[0][0], "the copies start apart");

        byte[] full = SyncSnapshots.write(reducer, "m", 1, -1, true, null, true);
        SyncSnapshots.Header h = SyncSnapshots.header(full);
        assertTrue(h.full());
        assertEquals(1, h.version());
        SyncSnapshots.apply(full, replica);
        assertSameModel(reducer, replica);

        int tables = SPEC.features().sparse().size();
        for (int round = 0; round < 3; round++) {
            // Batches of different sizes, so that a table's changed rows outnumber another's.
            Batch b = TestSpecs.batch(SPEC, 8 + 40 * round, 10 + round);
            reducer.trainStep(b);
            byte[] delta = SyncSnapshots.write(reducer, "m", 2 + round, 1 + round, false, touched(b, tables), true);
            assertFalse(SyncSnapshots.header(delta).full());
            SyncSnapshots.apply(delta, replica);
            assertSameModel(reducer, replica);
        }
    }

    @Test
    void aDeltaSetsTheRowsItNamesAndNoOther() {
        MmoeModel reducer = MmoeModel.create(SPEC, 5, DataType.FLOAT);
        MmoeModel replica = MmoeModel.create(SPEC, 5, DataType.FLOAT);
        int tables = SPEC.features().sparse().size();
        Batch b = TestSpecs.batch(SPEC, 16, 3);
        reducer.trainStep(b);
        int[][] ids = touched(b, tables);
        // Only the first table's rows go: the others must stay as the replica had them.
        int[][] some = new int[tables][];
        some[0] = ids[0];
        for (int f = 1; f < tables; f++) {
            some[f] = new int[0];
        }
        float[][] before = rows(replica);
        SyncSnapshots.apply(SyncSnapshots.write(reducer, "m", 2, 1, false, some, true), replica);
        float[][] after = rows(replica);
        float[][] want = rows(reducer);
        int dim0 = SPEC.features().sparse().get(0).dim();
        for (int id : ids[0]) {
            for (int k = 0; k < dim0; k++) {
                assertEquals(want[0][id * dim0 + k], after[0][id * dim0 + k]);
            }
        }
        for (int f = 1; f < tables; f++) {
            assertArrayEquals(before[f], after[f], "table " + f + " was not in the delta");
        }
        assertArrayEquals(dense(reducer), dense(replica));
    }

    @Test
    void aVersionOfAnotherSpecIsRefusedBeforeAnythingIsWritten() {
        ModelSpec other = TestSpecs.ctrCvr(Variant.MMOE, true, List.of(4));
        byte[] full = SyncSnapshots.write(MmoeModel.create(other, 5, DataType.FLOAT), "m", 1, -1, true, null, true);
        MmoeModel replica = MmoeModel.create(SPEC, 6, DataType.FLOAT);
        float[][] before = rows(replica);
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> SyncSnapshots.apply(full, replica));
        assertTrue(e.getMessage().contains("another spec"), e.getMessage());
        assertArrayEquals(before[0], rows(replica)[0]);
    }
}
