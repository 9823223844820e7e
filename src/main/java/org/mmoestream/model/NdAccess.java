package org.mmoestream.model;

import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Element access to a whole (not view) ND4J array through its direct NIO buffer, in double
 * precision whatever the array's type. About 1 ns per element, against tens of microseconds for
 * the smallest ND4J op, which is why the element-wise math of the model runs through this class.
 */
public abstract sealed class NdAccess permits NdAccess.F32, NdAccess.F64 {

  /** Number of elements. */
  public abstract int length();

  public abstract double get(int i);

  public abstract void set(int i, double v);

  /** Copies {@code n} elements starting at {@code from} into {@code dst}. */
  public abstract void read(int from, double[] dst, int dstOff, int n);

  /** Copies {@code n} values of {@code src} into the array starting at {@code to}. */
  public abstract void write(int to, double[] src, int srcOff, int n);

  /** Accessor for {@code a}, which must own its buffer from offset 0 (not a view). */
  public static NdAccess of(INDArray a) {
    if (a.offset() != 0 || a.length() > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("NdAccess needs a whole array of < 2^31 elements");
    }
    if (a.dataType() == DataType.FLOAT) {
      return new F32(a.data().asNioFloat(), (int) a.length());
    } else if (a.dataType() == DataType.DOUBLE) {
      return new F64(a.data().asNioDouble(), (int) a.length());
    }
    throw new IllegalArgumentException("unsupported data type " + a.dataType());
  }

  /** float32 storage. */
  static final class F32 extends NdAccess {
    private final FloatBuffer b;
    private final int n;

    F32(FloatBuffer b, int n) {
      this.b = b;
      this.n = n;
    }

    @Override
    public int length() {
      return n;
    }

    @Override
    public double get(int i) {
      return b.get(i);
    }

    @Override
    public void set(int i, double v) {
      b.put(i, (float) v);
    }

    @Override
    public void read(int from, double[] dst, int dstOff, int count) {
      for (int i = 0; i < count; i++) {
        dst[dstOff + i] = b.get(from + i);
      }
    }

    @Override
    public void write(int to, double[] src, int srcOff, int count) {
      for (int i = 0; i < count; i++) {
        b.put(to + i, (float) src[srcOff + i]);
      }
    }
  }

  /** float64 storage, for gradient checks. */
  static final class F64 extends NdAccess {
    private final DoubleBuffer b;
    private final int n;

    F64(DoubleBuffer b, int n) {
      this.b = b;
      this.n = n;
    }

    @Override
    public int length() {
      return n;
    }

    @Override
    public double get(int i) {
      return b.get(i);
    }

    @Override
    public void set(int i, double v) {
      b.put(i, v);
    }

    @Override
    public void read(int from, double[] dst, int dstOff, int count) {
      b.get(from, dst, dstOff, count);
    }

    @Override
    public void write(int to, double[] src, int srcOff, int count) {
      b.put(to, src, srcOff, count);
    }
  }
}
