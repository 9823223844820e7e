package org.mmoestream.model;

import static org.bytedeco.openblas.global.openblas_nolapack.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasTrans;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Matrix products straight through OpenBLAS's {@code cblas_?gemm}, on the native memory of whole
 * ND4J arrays, with offsets and leading dimensions: ND4J's own {@code gemm} costs 10-20 us per call
 * around the same kernel (measured here: 18 us against 6.5 us for a 1x221x774 product, 402 us
 * against 393 us for 256x221x774), and cannot address a column block of a wider matrix.
 * Row-major throughout; float32 arrays use sgemm, float64 arrays (gradient checks) dgemm.
 */
final class Blas {
    private Blas() {}

    /** The native base address of a whole array, typed for its gemm. */
    static final class Ptr {
        final DataType type;
        final FloatPointer f;
        final DoublePointer d;

        Ptr(INDArray a) {
            if (a.offset() != 0) {
                throw new IllegalArgumentException("Blas needs a whole array, not a view");
            }
            type = a.dataType();
            if (type == DataType.FLOAT) {
                f = new FloatPointer(a.data().addressPointer());
                d = null;
            } else if (type == DataType.DOUBLE) {
                f = null;
                d = new DoublePointer(a.data().addressPointer());
            } else {
                throw new IllegalArgumentException("unsupported data type " + type);
            }
        }
    }

    /**
     * {@code C[cOff..] = alpha * op(A) op(B) + beta * C}, where op(A) is m x k, op(B) k x n and C m x
     * n, each a row-major block starting at its offset with its leading dimension.
     */
    static void gemm(
            boolean transA,
            boolean transB,
            int m,
            int n,
            int k,
            double alpha,
            Ptr a,
            long aOff,
            int lda,
            Ptr b,
            long bOff,
            int ldb,
            double beta,
            Ptr c,
            long cOff,
            int ldc) {
        int ta = transA ? CblasTrans : CblasNoTrans;
        int tb = transB ? CblasTrans : CblasNoTrans;
        if (c.type == DataType.FLOAT) {
            openblas_nolapack.cblas_sgemm(
                    CblasRowMajor,
                    ta,
                    tb,
                    m,
                    n,
                    k,
                    (float) alpha,
                    at(a.f, aOff),
                    lda,
                    at(b.f, bOff),
                    ldb,
                    (float) beta,
                    at(c.f, cOff),
                    ldc);
        } else {
            openblas_nolapack.cblas_dgemm(
                    CblasRowMajor,
                    ta,
                    tb,
                    m,
                    n,
                    k,
                    alpha,
                    at(a.d, aOff),
                    lda,
                    at(b.d, bOff),
                    ldb,
                    beta,
                    at(c.d, cOff),
                    ldc);
        }
    }

    private static FloatPointer at(FloatPointer base, long off) {
        return off == 0 ? base : new FloatPointer(base).position(off);
    }

    private static DoublePointer at(DoublePointer base, long off) {
        return off == 0 ? base : new DoublePointer(base).position(off);
    }
}
