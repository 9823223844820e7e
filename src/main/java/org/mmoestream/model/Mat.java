package org.mmoestream.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** A preallocated [rows, cols] ND4J matrix with element access, reused across training steps. */
final class Mat {
  final INDArray nd;
  final NdAccess acc;
  final int rows;
  final int cols;

  Mat(DataType type, int rows, int cols) {
    this.nd = Nd4j.create(type, rows, cols);
    this.acc = NdAccess.of(nd);
    this.rows = rows;
    this.cols = cols;
  }

  void read(double[] dst) {
    acc.read(0, dst, 0, rows * cols);
  }

  void write(double[] src) {
    acc.write(0, src, 0, rows * cols);
  }
}
