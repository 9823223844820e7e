package org.mmoestream.train;

import java.util.Arrays;
import org.mmoestream.model.NdAccess;

/**
 * The reducer's copy of the dense parameters as of the last synchronization version it sent, so
 * that a delta carries only the parameters a round changed (pure). With Adagrad or SGD and a sparse
 * gradient ({@code train.gradient-density} below 1) a step changes only the parameters the shares
 * sent; Adam's moments move every parameter, and then the delta carries them all.
 */
final class SyncedDense {
    /** Above this share of the parameters changed, every one is sent (an id costs twice a value). */
    private static final double SPARSE_BELOW = 1.0 / 3;

    private float[] synced;
    private float[] now = new float[0];
    private int[] ids = new int[0];

    /** A full version was sent: every value as it is now. */
    void sentAll(NdAccess params) {
        read(params);
        synced = now.clone();
    }

    /**
     * The parameters whose values changed since the last version sent (ascending), taken as sent; or
     * null when all of them are to be sent (no full version yet, or more than a third changed).
     */
    int[] changed(NdAccess params) {
        if (synced == null) {
            return null;
        }
        read(params);
        int n = now.length;
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (Float.floatToRawIntBits(now[i]) != Float.floatToRawIntBits(synced[i])) {
                if (k == ids.length) {
                    ids = Arrays.copyOf(ids, Math.max(1024, 2 * k));
                }
                ids[k++] = i;
            }
        }
        System.arraycopy(now, 0, synced, 0, n);
        return k > SPARSE_BELOW * n ? null : Arrays.copyOf(ids, k);
    }

    private void read(NdAccess params) {
        if (now.length != params.length()) {
            now = new float[params.length()];
        }
        params.readFloats(0, now, 0, now.length);
    }
}
