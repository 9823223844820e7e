package org.mmoestream.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where each named dense tensor lives in the one flat parameter buffer. Names follow DESIGN.md
 * (Model snapshots), e.g. {@code expert.0.layer.1.weight}; weights are [out, in] row-major.
 */
public final class ParamLayout {

    /** One tensor: its name, shape, offset in the flat buffer, and whether L2 applies to it. */
    public record Entry(String name, int rows, int cols, int offset, boolean weight) {
        public int size() {
            return rows * cols;
        }

        /** Shape as written in snapshots: [out, in] for weights, [out] for biases. */
        public long[] shape() {
            return cols == 1 && !weight ? new long[] {rows} : new long[] {rows, cols};
        }
    }

    private final Map<String, Entry> entries = new LinkedHashMap<>();
    private int size;

    /** Adds a weight [rows, cols] (L2 applies) and returns its entry. */
    public Entry addWeight(String name, int rows, int cols) {
        return add(new Entry(name, rows, cols, size, true));
    }

    /** Adds a bias [rows] and returns its entry. */
    public Entry addBias(String name, int rows) {
        return add(new Entry(name, rows, 1, size, false));
    }

    private Entry add(Entry e) {
        if (entries.putIfAbsent(e.name(), e) != null) {
            throw new IllegalArgumentException("duplicate tensor name " + e.name());
        }
        size += e.size();
        return e;
    }

    /** Total number of dense parameters. */
    public int size() {
        return size;
    }

    public Entry get(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            throw new IllegalArgumentException("no tensor named " + name);
        }
        return e;
    }

    /** All entries in layout order. */
    public List<Entry> entries() {
        return Collections.unmodifiableList(new ArrayList<>(entries.values()));
    }
}
