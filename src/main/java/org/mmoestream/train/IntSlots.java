package org.mmoestream.train;

import java.util.Arrays;

/**
 * A map from row id to a slot in [0, capacity), open addressing over primitive arrays: the slots of
 * a working set whose table is smaller than the feature's buckets. Slots are handed out in order;
 * {@link #clear} frees them all at once.
 */
final class IntSlots {
    private int[] keys;
    private int[] values;
    private int[] ids;
    private int size;
    private int capacity;

    IntSlots(int capacity) {
        resize(capacity);
    }

    /** Room for {@code capacity} slots; clears the map. */
    void resize(int capacity) {
        this.capacity = capacity;
        int table = Integer.highestOneBit(Math.max(8, capacity * 2 - 1)) << 1;
        keys = new int[table];
        values = new int[table];
        ids = new int[capacity];
        clear();
    }

    void clear() {
        Arrays.fill(values, -1);
        size = 0;
    }

    int size() {
        return size;
    }

    int capacity() {
        return capacity;
    }

    /** The id in slot {@code slot}. */
    int id(int slot) {
        return ids[slot];
    }

    /** The slot of {@code id}, or -1. */
    int get(int id) {
        int mask = keys.length - 1;
        for (int h = hash(id) & mask; values[h] >= 0; h = (h + 1) & mask) {
            if (keys[h] == id) {
                return values[h];
            }
        }
        return -1;
    }

    /** Gives {@code id} (not present) the next slot; the caller checks that one is free. */
    int add(int id) {
        int mask = keys.length - 1;
        int h = hash(id) & mask;
        while (values[h] >= 0) {
            h = (h + 1) & mask;
        }
        keys[h] = id;
        values[h] = size;
        ids[size] = id;
        return size++;
    }

    private static int hash(int id) {
        return (id * 0x9E3779B9) >>> 7;
    }
}
