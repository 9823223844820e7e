package org.mmoestream.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A fully connected layer {@code act(x W^T + b)} whose weight and bias are views into the model's
 * flat parameter and gradient buffers. The products run on ND4J; bias, ReLU and their gradients run
 * on the heap copy of the activations that {@link Buffers} keeps for the backward pass.
 */
final class Dense {
  final ParamLayout.Entry weight;
  final ParamLayout.Entry bias;
  final boolean relu;
  final int in;
  final int out;
  private final INDArray w;
  private final INDArray gw;

  Dense(ParamLayout.Entry weight, ParamLayout.Entry bias, boolean relu, INDArray params, INDArray grads) {
    this.weight = weight;
    this.bias = bias;
    this.relu = relu;
    this.out = weight.rows();
    this.in = weight.cols();
    this.w = view(params, weight);
    this.gw = view(grads, weight);
  }

  private static INDArray view(INDArray flat, ParamLayout.Entry e) {
    return flat.get(
            org.nd4j.linalg.indexing.NDArrayIndex.interval(e.offset(), e.offset() + e.size()))
        .reshape('c', e.rows(), e.cols());
  }

  /** Per-batch-size buffers of one layer: output, heap activations, and backward scratch. */
  static final class Buffers {
    final int rows;
    final Mat out;
    final Mat dz;
    final double[] act;
    final double[] dact;
    final double[] vec;

    Buffers(DataType type, int rows, int width) {
      this.rows = rows;
      this.out = new Mat(type, rows, width);
      this.dz = new Mat(type, rows, width);
      this.act = new double[rows * width];
      this.dact = new double[rows * width];
      this.vec = new double[width];
    }
  }

  Buffers buffers(DataType type, int rows) {
    return new Buffers(type, rows, out);
  }

  /** Computes the layer on {@code x} into {@code buf.act} (heap) and {@code buf.out} (ND4J). */
  void forward(INDArray x, Buffers buf, NdAccess params) {
    Nd4j.gemm(x, w, buf.out.nd, false, true, 1.0, 0.0);
    double[] a = buf.act;
    double[] b = buf.vec;
    if (bias != null) {
      params.read(bias.offset(), b, 0, out);
    } else {
      java.util.Arrays.fill(b, 0);
    }
    // Bulk copy out, one fused pass over heap arrays (bias, ReLU), bulk copy back.
    NdAccess o = buf.out.acc;
    int n = buf.rows * out;
    o.read(0, a, 0, n);
    for (int r = 0, i = 0; r < buf.rows; r++) {
      for (int j = 0; j < out; j++, i++) {
        double v = a[i] + b[j];
        // Branch-free: the sign of an activation is unpredictable, a branch mispredicts half the time.
        a[i] = relu ? Math.max(v, 0.0) : v;
      }
    }
    o.write(0, a, 0, n);
  }

  /**
   * Back-propagates {@code buf.dact} (dLoss/dActivation, overwritten with dLoss/dPreactivation):
   * writes the weight and bias gradients into {@code grads}, and {@code dx = dz W} into {@code
   * dx} scaled by 1 and added to {@code beta * dx}; {@code dx} may be null when not needed.
   */
  void backward(INDArray x, Buffers buf, NdAccess grads, INDArray dx, double beta) {
    double[] d = buf.dact;
    double[] a = buf.act;
    double[] s = buf.vec;
    java.util.Arrays.fill(s, 0);
    // One fused pass over heap arrays (ReLU mask, bias gradient as column sums), then one bulk
    // copy of dz for the products.
    for (int r = 0, i = 0; r < buf.rows; r++) {
      for (int j = 0; j < out; j++, i++) {
        // ReLU mask as a select on the activation (>= 0 after ReLU); measured faster than multiplying
        // by Math.min(1, Math.ceil(a)) (bench model), so the JIT does not make it a mispredicted branch.
        double v = relu && a[i] <= 0.0 ? 0.0 : d[i];
        d[i] = v;
        s[j] += v;
      }
    }
    buf.dz.acc.write(0, d, 0, buf.rows * out);
    Nd4j.gemm(buf.dz.nd, x, gw, true, false, 1.0, 0.0);
    if (bias != null) {
      grads.write(bias.offset(), s, 0, out);
    }
    if (dx != null) {
      Nd4j.gemm(buf.dz.nd, w, dx, false, false, 1.0, beta);
    }
  }
}
