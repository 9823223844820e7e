package org.mmoestream.train;

import java.util.Map;

/**
 * Where the embedding rows a model has trained live when they are not in memory: each row (its
 * value, then its optimizer state, {@code dim * (1 + slots)} floats) under {@link #key}{@code
 * (feature, id)}. The trainer's store is Flink keyed map state (RocksDB); tests use a map.
 */
public interface RowStore {
    /** The stored row, or null when it was never stored. */
    float[] get(long key) throws Exception;

    void put(long key, float[] row) throws Exception;

    /** Stores many rows at once (one write batch in RocksDB). */
    default void putAll(Map<Long, float[]> rows) throws Exception {
        for (Map.Entry<Long, float[]> e : rows.entrySet()) {
            put(e.getKey(), e.getValue());
        }
    }

    /** Every stored row. */
    Iterable<Map.Entry<Long, float[]>> entries() throws Exception;

    /** The key of row {@code id} of sparse feature {@code feature}. */
    static long key(int feature, int id) {
        return ((long) feature << 32) | (id & 0xffffffffL);
    }

    static int feature(long key) {
        return (int) (key >>> 32);
    }

    static int id(long key) {
        return (int) key;
    }

    /** A store in a hash map, for tests and offline use. */
    static RowStore inMemory() {
        Map<Long, float[]> m = new java.util.HashMap<>();
        return new RowStore() {
            @Override
            public float[] get(long key) {
                return m.get(key);
            }

            @Override
            public void put(long key, float[] row) {
                m.put(key, row);
            }

            @Override
            public Iterable<Map.Entry<Long, float[]>> entries() {
                return m.entrySet();
            }
        };
    }
}
