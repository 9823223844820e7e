package org.mmoestream.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A preallocated row-major [capacity, cols] native matrix (an ND4J array) with bulk element access
 * and its base address for {@link Blas}; a batch uses its first rows. Reused across steps.
 */
final class Mat {
    final INDArray nd;
    final NdAccess acc;
    final Blas.Ptr ptr;
    final int capacity;
    final int cols;

    Mat(DataType type, int capacity, int cols) {
        this.nd = Nd4j.create(type, Math.max(1, capacity), Math.max(1, cols));
        this.acc = NdAccess.of(nd);
        this.ptr = new Blas.Ptr(nd);
        this.capacity = capacity;
        this.cols = cols;
    }

    /** Reads the first {@code rows} rows into {@code dst}. */
    void read(int rows, double[] dst) {
        acc.read(0, dst, 0, rows * cols);
    }

    /** Writes the first {@code rows} rows from {@code src}. */
    void write(int rows, double[] src) {
        acc.write(0, src, 0, rows * cols);
    }
}
