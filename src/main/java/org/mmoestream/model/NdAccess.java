package org.mmoestream.model;

import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Element access to a whole (not view) ND4J array through its direct NIO buffer, or to a heap
 * array, in double precision whatever the storage type. About 1 ns per element, against tens of microseconds for
 * the smallest ND4J op, which is why the element-wise math of the model runs through this class;
 * {@link #read} and {@link #write} of many elements are bulk copies, several times faster still.
 * Not thread-safe: one thread at a time per accessor, as every model here is used.
 */
public abstract sealed class NdAccess permits NdAccess.F32, NdAccess.F64 {

    /** Number of elements. */
    public abstract int length();

    /** Whether the storage is float32 ({@link #readFloats} and {@link #writeFloats} copy without conversion). */
    public abstract boolean float32();

    public abstract double get(int i);

    public abstract void set(int i, double v);

    /** Copies {@code n} elements starting at {@code from} into {@code dst}. */
    public abstract void read(int from, double[] dst, int dstOff, int n);

    /** Copies {@code n} values of {@code src} into the array starting at {@code to}. */
    public abstract void write(int to, double[] src, int srcOff, int n);

    /** Copies {@code n} elements starting at {@code from} into {@code dst}, as float32. */
    public abstract void readFloats(int from, float[] dst, int dstOff, int n);

    /** Copies {@code n} float32 values of {@code src} into the array starting at {@code to}. */
    public abstract void writeFloats(int to, float[] src, int srcOff, int n);

    /** Copies {@code n} values from {@code from} into {@code dst} (float32 storage only). */
    public void copyTo(int from, FloatBuffer dst, int n) {
        throw new UnsupportedOperationException("bulk copies need float32 storage");
    }

    /** Copies {@code n} values of {@code src} to {@code to} (float32 storage only). */
    public void copyFrom(int to, FloatBuffer src, int n) {
        throw new UnsupportedOperationException("bulk copies need float32 storage");
    }

    /** Accessor for a heap array (float32 storage). */
    public static NdAccess of(float[] a) {
        return new F32(FloatBuffer.wrap(a), a.length);
    }

    /** Accessor for a heap array (float64 storage). */
    public static NdAccess of(double[] a) {
        return new F64(DoubleBuffer.wrap(a), a.length);
    }

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
        /** Below this many elements an element loop beats the bulk copy. */
        private static final int BULK = 64;
        /** Staging array of the bulk copies; one per accessor (a ThreadLocal lookup cost more). */
        private float[] scratch = new float[0];

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
        public boolean float32() {
            return true;
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
            if (count < BULK) {
                for (int i = 0; i < count; i++) {
                    dst[dstOff + i] = b.get(from + i);
                }
                return;
            }
            // One bulk copy out of direct memory, then a conversion loop over arrays that the JIT
            // vectorizes: several times faster than an indexed get (with its bounds check) per element.
            float[] tmp = scratch(count);
            b.get(from, tmp, 0, count);
            for (int i = 0; i < count; i++) {
                dst[dstOff + i] = tmp[i];
            }
        }

        @Override
        public void write(int to, double[] src, int srcOff, int count) {
            if (count < BULK) {
                for (int i = 0; i < count; i++) {
                    b.put(to + i, (float) src[srcOff + i]);
                }
                return;
            }
            float[] tmp = scratch(count);
            for (int i = 0; i < count; i++) {
                tmp[i] = (float) src[srcOff + i];
            }
            b.put(to, tmp, 0, count);
        }

        @Override
        public void readFloats(int from, float[] dst, int dstOff, int count) {
            b.get(from, dst, dstOff, count);
        }

        @Override
        public void copyTo(int from, FloatBuffer dst, int count) {
            dst.put(b.slice(from, count));
        }

        @Override
        public void copyFrom(int to, FloatBuffer src, int count) {
            b.slice(to, count).put(src.slice(src.position(), count));
            src.position(src.position() + count);
        }

        @Override
        public void writeFloats(int to, float[] src, int srcOff, int count) {
            b.put(to, src, srcOff, count);
        }

        private float[] scratch(int count) {
            if (scratch.length < count) {
                scratch = new float[Math.max(count, scratch.length * 2)];
            }
            return scratch;
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
        public boolean float32() {
            return false;
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

        @Override
        public void readFloats(int from, float[] dst, int dstOff, int count) {
            for (int i = 0; i < count; i++) {
                dst[dstOff + i] = (float) b.get(from + i);
            }
        }

        @Override
        public void writeFloats(int to, float[] src, int srcOff, int count) {
            for (int i = 0; i < count; i++) {
                b.put(to + i, src[srcOff + i]);
            }
        }
    }
}
