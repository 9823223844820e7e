package org.mmoestream.model;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.model.optim.Optimizer;
import org.mmoestream.model.optim.OptimizerConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One embedding table per sparse feature ([buckets, dim]) with its optimizer state, the gather of a
 * batch's rows into the model input (mean-pooled for multi-valued features), and the row-sparse
 * gradient: each touched row once, with the contributions of every use in the batch summed.
 */
public final class Embeddings {
  private final List<SparseFeature> features;
  private final int[] inputOffset;
  private final INDArray[] tables;
  private final NdAccess[] access;
  private final INDArray[][] state;
  private final NdAccess[][] stateAccess;
  private final RowGradients[] grads;
  private final int slots;

  public Embeddings(List<SparseFeature> features, DataType type, OptimizerConfig opt) {
    this(features, type, opt, features.stream().mapToInt(SparseFeature::buckets).toArray());
  }

  /**
   * Tables of {@code rows[f]} rows instead of the features' bucket counts: a compact working set
   * whose slots the caller maps to bucket ids (the streaming trainer keeps rows in Flink state).
   */
  public Embeddings(List<SparseFeature> features, DataType type, OptimizerConfig opt, int[] rows) {
    this.features = List.copyOf(features);
    this.slots = opt.stateSlots();
    int n = features.size();
    inputOffset = new int[n];
    tables = new INDArray[n];
    access = new NdAccess[n];
    state = new INDArray[n][opt.stateSlots()];
    stateAccess = new NdAccess[n][opt.stateSlots()];
    grads = new RowGradients[n];
    int off = 0;
    for (int f = 0; f < n; f++) {
      SparseFeature sf = features.get(f);
      inputOffset[f] = off;
      off += sf.dim();
      tables[f] = Nd4j.zeros(type, rows[f], sf.dim());
      access[f] = NdAccess.of(tables[f]);
      for (int s = 0; s < opt.stateSlots(); s++) {
        state[f][s] = Nd4j.valueArrayOf(new long[] {rows[f], sf.dim()}, opt.initialState(s), type);
        stateAccess[f][s] = NdAccess.of(state[f][s]);
      }
      grads[f] = new RowGradients(sf.dim());
    }
  }

  /** Sets every row to its initial value, {@link #initialRow}. */
  public void initialize(long seed) {
    for (int f = 0; f < tables.length; f++) {
      int dim = features.get(f).dim();
      double[] row = new double[dim];
      int rows = access[f].length() / dim;
      for (int r = 0; r < rows; r++) {
        initialRow(seed, f, r, row);
        access[f].write(r * dim, row, 0, dim);
      }
    }
  }

  /**
   * The initial value of row {@code row} of table {@code f}: N(0, 0.01^2) entries drawn from a
   * generator seeded by (seed, f, row) alone, so a row first touched late in a stream, in another
   * process, starts where offline training starts it.
   */
  public static void initialRow(long seed, int f, int row, double[] dst) {
    SplittableRandom rnd = new SplittableRandom(seed ^ ((((long) f << 40) + row + 1) * 0x9E3779B97F4A7C15L));
    for (int k = 0; k < dst.length; k++) {
      dst[k] = 0.01 * rnd.nextGaussian();
    }
  }

  /** Optimizer state slots kept per row entry. */
  public int stateSlots() {
    return slots;
  }

  /** Copies row {@code r} of table {@code f} and its optimizer state ({@code dim * (1 + slots)}). */
  public void readRow(int f, int r, double[] dst) {
    int dim = features.get(f).dim();
    access[f].read(r * dim, dst, 0, dim);
    for (int s = 0; s < slots; s++) {
      stateAccess[f][s].read(r * dim, dst, (s + 1) * dim, dim);
    }
  }

  /** Writes what {@link #readRow} read. */
  public void writeRow(int f, int r, double[] src) {
    int dim = features.get(f).dim();
    access[f].write(r * dim, src, 0, dim);
    for (int s = 0; s < slots; s++) {
      stateAccess[f][s].write(r * dim, src, (s + 1) * dim, dim);
    }
  }

  /** Optimizer state slot {@code s} of table {@code f}, [rows, dim]. */
  public INDArray state(int f, int s) {
    return state[f][s];
  }

  public int count() {
    return tables.length;
  }

  public SparseFeature feature(int f) {
    return features.get(f);
  }

  /** The table of feature {@code f}, [buckets, dim]. */
  public INDArray table(int f) {
    return tables[f];
  }

  public NdAccess tableAccess(int f) {
    return access[f];
  }

  /** Writes each row's (mean-pooled) embeddings into the model input {@code x} [rows, width]. */
  public void gather(Batch b, double[] x, int width) {
    for (int f = 0; f < tables.length; f++) {
      int dim = features.get(f).dim();
      NdAccess t = access[f];
      int[] ids = b.ids[f];
      int[] off = b.offsets[f];
      for (int r = 0; r < b.rows; r++) {
        int o = r * width + inputOffset[f];
        int from = off[r];
        int to = off[r + 1];
        t.read(ids[from] * dim, x, o, dim);
        if (to - from > 1) {
          for (int i = from + 1; i < to; i++) {
            for (int k = 0; k < dim; k++) {
              x[o + k] += t.get(ids[i] * dim + k);
            }
          }
          double inv = 1.0 / (to - from);
          for (int k = 0; k < dim; k++) {
            x[o + k] *= inv;
          }
        }
      }
    }
  }

  /** Touched rows of one table and their summed gradients; arrays grow and are reused. */
  public static final class RowGradients {
    final int dim;
    int count;
    int[] rows = new int[64];
    double[] values;
    long[] keys = new long[64];

    RowGradients(int dim) {
      this.dim = dim;
      this.values = new double[64 * dim];
    }

    public int count() {
      return count;
    }

    public int row(int i) {
      return rows[i];
    }

    /** Gradient entry {@code k} of touched row {@code i}. */
    public double value(int i, int k) {
      return values[i * dim + k];
    }
  }

  /**
   * Turns dLoss/dInput [rows, width] into per-table row gradients: a use of id j in a row with n
   * values contributes dx/n to row j; uses of the same id are summed (ids sorted, so the order of
   * the additions, and the result, do not depend on hashing).
   */
  public RowGradients[] gradients(Batch b, double[] dx, int width) {
    for (int f = 0; f < tables.length; f++) {
      RowGradients g = grads[f];
      int dim = g.dim;
      int[] ids = b.ids[f];
      int[] off = b.offsets[f];
      int uses = ids.length;
      if (g.keys.length < uses) {
        g.keys = new long[uses];
      }
      // key = id << 32 | use index; the use index finds the row through the CSR offsets.
      for (int i = 0; i < uses; i++) {
        g.keys[i] = ((long) ids[i] << 32) | i;
      }
      Arrays.sort(g.keys, 0, uses);
      if (g.rows.length < uses) {
        g.rows = new int[uses];
        g.values = new double[uses * dim];
      }
      int u = -1;
      int prevId = -1;
      int r = 0;
      int[] useRow = rowOfUse(off, b.rows, uses);
      for (int i = 0; i < uses; i++) {
        int id = (int) (g.keys[i] >>> 32);
        int use = (int) g.keys[i];
        if (id != prevId) {
          u++;
          g.rows[u] = id;
          Arrays.fill(g.values, u * dim, (u + 1) * dim, 0.0);
          prevId = id;
        }
        r = useRow[use];
        double w = 1.0 / (off[r + 1] - off[r]);
        int o = r * width + inputOffset[f];
        for (int k = 0; k < dim; k++) {
          g.values[u * dim + k] += w * dx[o + k];
        }
      }
      g.count = u + 1;
    }
    return grads;
  }

  private int[] useRowScratch = new int[64];

  private int[] rowOfUse(int[] off, int rows, int uses) {
    if (useRowScratch.length < uses) {
      useRowScratch = new int[uses];
    }
    for (int r = 0; r < rows; r++) {
      for (int i = off[r]; i < off[r + 1]; i++) {
        useRowScratch[i] = r;
      }
    }
    return useRowScratch;
  }

  /** Sum of squares of the row gradients plus the L2 term, for global-norm clipping. */
  public double squaredNorm(RowGradients[] g, double l2) {
    double s = 0;
    for (int f = 0; f < g.length; f++) {
      int dim = g[f].dim;
      for (int i = 0; i < g[f].count; i++) {
        int base = g[f].rows[i] * dim;
        for (int k = 0; k < dim; k++) {
          double v = g[f].values[i * dim + k] + (l2 == 0 ? 0 : l2 * access[f].get(base + k));
          s += v * v;
        }
      }
    }
    return s;
  }

  /** Applies the optimizer to the touched rows of every table. */
  public void update(Optimizer opt, RowGradients[] g, double scale) {
    for (int f = 0; f < g.length; f++) {
      opt.updateRows(access[f], stateAccess[f], g[f].rows, g[f].values, g[f].count, g[f].dim, scale);
    }
  }
}
