package org.mmoestream.model;

import java.util.List;
import org.mmoestream.feature.EncodedExample;

/**
 * A micro-batch in columnar form: per sparse feature the ids of all rows in CSR layout, the dense
 * values [rows, dense] row-major, and per task the labels of all rows.
 */
public final class Batch {
  final int rows;
  final int[][] ids;
  final int[][] offsets;
  final double[] dense;
  final float[][] labels;

  private Batch(int rows, int[][] ids, int[][] offsets, double[] dense, float[][] labels) {
    this.rows = rows;
    this.ids = ids;
    this.offsets = offsets;
    this.dense = dense;
    this.labels = labels;
  }

  /** Packs examples; labels are kept only when every example has them. */
  public static Batch of(List<EncodedExample> examples) {
    if (examples.isEmpty()) {
      throw new IllegalArgumentException("empty batch");
    }
    int rows = examples.size();
    EncodedExample first = examples.get(0);
    int sparse = first.sparseIds().length;
    int nd = first.dense().length;
    int[][] ids = new int[sparse][];
    int[][] offsets = new int[sparse][];
    for (int f = 0; f < sparse; f++) {
      int total = 0;
      for (EncodedExample e : examples) {
        total += e.sparseIds()[f].length;
      }
      ids[f] = new int[total];
      offsets[f] = new int[rows + 1];
      int pos = 0;
      for (int r = 0; r < rows; r++) {
        int[] v = examples.get(r).sparseIds()[f];
        System.arraycopy(v, 0, ids[f], pos, v.length);
        pos += v.length;
        offsets[f][r + 1] = pos;
      }
    }
    double[] dense = new double[rows * nd];
    for (int r = 0; r < rows; r++) {
      System.arraycopy(examples.get(r).dense(), 0, dense, r * nd, nd);
    }
    float[][] labels = null;
    if (examples.stream().allMatch(e -> e.labels() != null)) {
      int tasks = first.labels().length;
      labels = new float[tasks][rows];
      for (int r = 0; r < rows; r++) {
        for (int t = 0; t < tasks; t++) {
          labels[t][r] = examples.get(r).labels()[t];
        }
      }
    }
    return new Batch(rows, ids, offsets, dense, labels);
  }

  /** The same batch with other sparse ids (same CSR layout), e.g. slots of a compact table. */
  public Batch withIds(int[][] newIds) {
    return new Batch(rows, newIds, offsets, dense, labels);
  }

  /** The ids of sparse feature {@code f} for all rows, CSR order (do not modify). */
  public int[] ids(int f) {
    return ids[f];
  }

  public int rows() {
    return rows;
  }

  public boolean labeled() {
    return labels != null;
  }

  /** Label of task {@code t} on row {@code r}. */
  public float label(int t, int r) {
    return labels[t][r];
  }
}
