package org.mmoestream.model;

import java.util.List;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The dense part of the model, from the input row x (embeddings then dense values) to one logit
 * per task: experts f_i, gates g^k(x) = softmax(W_gk x) and towers h^k, with y_k = h^k(sum_i
 * g^k(x)_i f_i(x)) (MMoE paper, Eq. 5-6). OMoE shares one gate; shared-bottom is one expert with a
 * fixed weight of 1; single-task gives each task its own expert.
 *
 * <p>All dense parameters live in one flat ND4J buffer ({@link #params()}), gradients in another of
 * the same layout; both are the primitive arrays that state backends and snapshots store.
 */
public final class MmoeNetwork {

  private final Architecture arch;
  private final int inputDim;
  private final int tasks;
  private final int experts;
  private final DataType type;
  private final ParamLayout layout = new ParamLayout();
  private final INDArray params;
  private final INDArray grads;
  private final NdAccess paramAcc;
  private final NdAccess gradAcc;
  private final Dense[][] expertLayers;
  private final Dense[][] gateLayers;
  private final Dense[][] towerLayers;
  private final int[] gateOfTask;
  private final int[] expertOfTask;
  private Buffers buf;

  /** Builds the layout for {@code taskNames} and allocates zeroed parameters. */
  public MmoeNetwork(Architecture arch, int inputDim, List<String> taskNames, DataType type) {
    if (arch.expertHidden().isEmpty()) {
      throw new IllegalArgumentException("expert_hidden needs at least one layer");
    }
    this.arch = arch;
    this.inputDim = inputDim;
    this.tasks = taskNames.size();
    this.type = type;
    this.experts =
        switch (arch.variant()) {
          case MMOE, OMOE -> arch.experts();
          case SHARED_BOTTOM -> 1;
          case SINGLE_TASK -> tasks;
        };
    int gates =
        switch (arch.variant()) {
          case MMOE -> tasks;
          case OMOE -> 1;
          default -> 0;
        };
    gateOfTask = new int[tasks];
    expertOfTask = new int[tasks];
    for (int t = 0; t < tasks; t++) {
      gateOfTask[t] = gates == 0 ? -1 : Math.min(t, gates - 1);
      expertOfTask[t] = arch.variant() == Variant.SINGLE_TASK ? t : 0;
    }
    // Layout first (offsets), then the buffers, then the layers holding views into them.
    ParamLayout.Entry[][][] expertEntries = new ParamLayout.Entry[experts][][];
    for (int e = 0; e < experts; e++) {
      expertEntries[e] = mlpEntries("expert." + e + ".layer.", inputDim, arch.expertHidden());
    }
    ParamLayout.Entry[][][] gateEntries = new ParamLayout.Entry[gates][][];
    for (int g = 0; g < gates; g++) {
      String name = arch.variant() == Variant.OMOE ? "shared" : taskNames.get(g);
      ParamLayout.Entry[][] hidden =
          mlpEntries("gate." + name + ".layer.", inputDim, arch.gateHidden());
      int width = arch.gateHidden().isEmpty() ? inputDim : last(arch.gateHidden());
      gateEntries[g] = append(hidden, layout.addWeight("gate." + name + ".weight", experts, width), null);
    }
    int mixWidth = last(arch.expertHidden());
    ParamLayout.Entry[][][] towerEntries = new ParamLayout.Entry[tasks][][];
    for (int t = 0; t < tasks; t++) {
      String p = "tower." + taskNames.get(t) + ".";
      ParamLayout.Entry[][] hidden = mlpEntries(p + "layer.", mixWidth, arch.towerHidden());
      int width = arch.towerHidden().isEmpty() ? mixWidth : last(arch.towerHidden());
      towerEntries[t] =
          append(hidden, layout.addWeight(p + "out.weight", 1, width), layout.addBias(p + "out.bias", 1));
    }
    params = Nd4j.zeros(type, layout.size());
    grads = Nd4j.zeros(type, layout.size());
    paramAcc = NdAccess.of(params);
    gradAcc = NdAccess.of(grads);
    expertLayers = layers(expertEntries, false);
    gateLayers = layers(gateEntries, true);
    towerLayers = layers(towerEntries, true);
  }

  private ParamLayout.Entry[][] mlpEntries(String prefix, int in, List<Integer> widths) {
    ParamLayout.Entry[][] out = new ParamLayout.Entry[widths.size()][];
    for (int j = 0; j < widths.size(); j++) {
      out[j] =
          new ParamLayout.Entry[] {
            layout.addWeight(prefix + j + ".weight", widths.get(j), in),
            layout.addBias(prefix + j + ".bias", widths.get(j))
          };
      in = widths.get(j);
    }
    return out;
  }

  private static ParamLayout.Entry[][] append(
      ParamLayout.Entry[][] hidden, ParamLayout.Entry w, ParamLayout.Entry b) {
    ParamLayout.Entry[][] all = java.util.Arrays.copyOf(hidden, hidden.length + 1);
    all[hidden.length] = new ParamLayout.Entry[] {w, b};
    return all;
  }

  /** Layers use ReLU, except the last of each chain when {@code linearLast} (gates, towers). */
  private Dense[][] layers(ParamLayout.Entry[][][] entries, boolean linearLast) {
    Dense[][] out = new Dense[entries.length][];
    for (int i = 0; i < entries.length; i++) {
      int n = entries[i].length;
      out[i] = new Dense[n];
      for (int j = 0; j < n; j++) {
        boolean relu = !(linearLast && j == n - 1);
        out[i][j] = new Dense(entries[i][j][0], entries[i][j][1], relu, params, grads);
      }
    }
    return out;
  }

  private static int last(List<Integer> widths) {
    return widths.get(widths.size() - 1);
  }

  /** Glorot-uniform weights, zero biases, drawn in layout order from {@code seed}. */
  public void initialize(SplittableRandom rnd) {
    for (ParamLayout.Entry e : layout.entries()) {
      double a = e.weight() ? Math.sqrt(6.0 / (e.rows() + e.cols())) : 0;
      for (int i = 0; i < e.size(); i++) {
        paramAcc.set(e.offset() + i, e.weight() ? (rnd.nextDouble() * 2 - 1) * a : 0);
      }
    }
  }

  public ParamLayout layout() {
    return layout;
  }

  /** The flat parameter buffer (layout order). */
  public INDArray params() {
    return params;
  }

  public NdAccess paramAccess() {
    return paramAcc;
  }

  public NdAccess gradAccess() {
    return gradAcc;
  }

  public int inputDim() {
    return inputDim;
  }

  public int experts() {
    return experts;
  }

  public int tasks() {
    return tasks;
  }

  /** Number of softmax gates (tasks for MMoE, 1 for OMoE, 0 otherwise). */
  public int gates() {
    return gateLayers.length;
  }

  /** Gate used by task {@code t}, or -1 when its mixture is fixed. */
  public int gateOfTask(int t) {
    return gateOfTask[t];
  }

  public DataType type() {
    return type;
  }

  /** The buffers for a batch of {@code rows}; reused while the batch size stays the same. */
  public Buffers buffers(int rows) {
    if (buf == null || buf.rows != rows) {
      buf = new Buffers(rows);
    }
    return buf;
  }

  /** Activations and gradients of one batch size. Callers fill {@link #x} and read {@link #dx}. */
  public final class Buffers {
    final int rows;
    final Mat x;
    final Mat dx;
    final Dense.Buffers[][] exp;
    final Dense.Buffers[][] gate;
    final Dense.Buffers[][] tower;
    final Mat[] mix;
    final Mat[] dmixNd;
    final double[][] mixAct;
    final double[][] dmix;
    final double[][] dprob;
    final double[] logits;

    Buffers(int rows) {
      this.rows = rows;
      x = new Mat(type, rows, inputDim);
      dx = new Mat(type, rows, inputDim);
      exp = layerBuffers(expertLayers, rows);
      gate = layerBuffers(gateLayers, rows);
      tower = layerBuffers(towerLayers, rows);
      int h = last(arch.expertHidden());
      mix = new Mat[tasks];
      dmixNd = new Mat[tasks];
      mixAct = new double[tasks][rows * h];
      dmix = new double[tasks][rows * h];
      for (int t = 0; t < tasks; t++) {
        mix[t] = new Mat(type, rows, h);
        dmixNd[t] = new Mat(type, rows, h);
      }
      dprob = new double[gateLayers.length][rows * experts];
      logits = new double[rows * tasks];
    }

    private Dense.Buffers[][] layerBuffers(Dense[][] layers, int rows) {
      Dense.Buffers[][] out = new Dense.Buffers[layers.length][];
      for (int i = 0; i < layers.length; i++) {
        out[i] = new Dense.Buffers[layers[i].length];
        for (int j = 0; j < layers[i].length; j++) {
          out[i][j] = layers[i][j].buffers(type, rows);
        }
      }
      return out;
    }

    public int rows() {
      return rows;
    }

    /** Writes the model input, [rows, inputDim] row-major. */
    public void setInput(double[] values) {
      x.write(values);
    }

    /** Reads dLoss/dInput after {@link #backward}. */
    public void readInputGradient(double[] dst) {
      dx.read(dst);
    }

    /** Logits [rows, tasks] row-major after {@link #forward}. */
    public double[] logits() {
      return logits;
    }

    /** Gate probabilities [rows, experts] of gate {@code g} after {@link #forward}. */
    public double[] gateProbabilities(int g) {
      Dense.Buffers[] gb = gate[g];
      return gb[gb.length - 1].act;
    }
  }

  /** Forward pass on {@code b.x}; fills the logits and keeps what the backward pass needs. */
  public void forward(Buffers b) {
    int rows = b.rows;
    for (int e = 0; e < experts; e++) {
      chainForward(expertLayers[e], b.exp[e], b.x.nd);
    }
    for (int g = 0; g < gateLayers.length; g++) {
      Dense.Buffers[] gb = b.gate[g];
      chainForward(gateLayers[g], gb, b.x.nd);
      softmaxRows(gb[gb.length - 1].act, rows, experts);
    }
    int last = arch.expertHidden().size() - 1;
    int h = last(arch.expertHidden());
    for (int t = 0; t < tasks; t++) {
      double[] m = b.mixAct[t];
      int g = gateOfTask[t];
      if (g < 0) {
        System.arraycopy(b.exp[expertOfTask[t]][last].act, 0, m, 0, rows * h);
      } else {
        double[] p = b.gateProbabilities(g);
        java.util.Arrays.fill(m, 0);
        for (int e = 0; e < experts; e++) {
          double[] he = b.exp[e][last].act;
          for (int r = 0; r < rows; r++) {
            double w = p[r * experts + e];
            int o = r * h;
            for (int k = 0; k < h; k++) {
              m[o + k] += w * he[o + k];
            }
          }
        }
      }
      b.mix[t].write(m);
      Dense.Buffers[] tb = b.tower[t];
      chainForward(towerLayers[t], tb, b.mix[t].nd);
      double[] z = tb[tb.length - 1].act;
      for (int r = 0; r < rows; r++) {
        b.logits[r * tasks + t] = z[r];
      }
    }
  }

  private void chainForward(Dense[] layers, Dense.Buffers[] bufs, INDArray in) {
    for (int j = 0; j < layers.length; j++) {
      layers[j].forward(in, bufs[j], paramAcc);
      in = bufs[j].out.nd;
    }
  }

  private static void softmaxRows(double[] a, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
      int o = r * cols;
      double max = Double.NEGATIVE_INFINITY;
      for (int k = 0; k < cols; k++) {
        max = Math.max(max, a[o + k]);
      }
      double sum = 0;
      for (int k = 0; k < cols; k++) {
        a[o + k] = Math.exp(a[o + k] - max);
        sum += a[o + k];
      }
      for (int k = 0; k < cols; k++) {
        a[o + k] /= sum;
      }
    }
  }

  /**
   * Backward pass from dLoss/dLogits ([rows, tasks] row-major) after {@link #forward} on the same
   * buffers: fills the gradient buffer and dLoss/dInput.
   */
  public void backward(Buffers b, double[] dLogits) {
    int rows = b.rows;
    int last = arch.expertHidden().size() - 1;
    int h = last(arch.expertHidden());
    for (int t = 0; t < tasks; t++) {
      Dense.Buffers[] tb = b.tower[t];
      double[] d = tb[tb.length - 1].dact;
      for (int r = 0; r < rows; r++) {
        d[r] = dLogits[r * tasks + t];
      }
      chainBackward(towerLayers[t], tb, b.mix[t].nd, b.dmixNd[t].nd, 0.0);
      b.dmixNd[t].read(b.dmix[t]);
    }
    for (int e = 0; e < experts; e++) {
      java.util.Arrays.fill(b.exp[e][last].dact, 0);
    }
    for (double[] dp : b.dprob) {
      java.util.Arrays.fill(dp, 0);
    }
    for (int t = 0; t < tasks; t++) {
      double[] dm = b.dmix[t];
      int g = gateOfTask[t];
      if (g < 0) {
        double[] de = b.exp[expertOfTask[t]][last].dact;
        for (int i = 0; i < rows * h; i++) {
          de[i] += dm[i];
        }
        continue;
      }
      double[] p = b.gateProbabilities(g);
      double[] dp = b.dprob[g];
      for (int e = 0; e < experts; e++) {
        double[] he = b.exp[e][last].act;
        double[] de = b.exp[e][last].dact;
        for (int r = 0; r < rows; r++) {
          double w = p[r * experts + e];
          int o = r * h;
          double dot = 0;
          for (int k = 0; k < h; k++) {
            dot += dm[o + k] * he[o + k];
            de[o + k] += w * dm[o + k];
          }
          dp[r * experts + e] += dot;
        }
      }
    }
    double beta = 0.0;
    for (int e = 0; e < experts; e++) {
      chainBackward(expertLayers[e], b.exp[e], b.x.nd, b.dx.nd, beta);
      beta = 1.0;
    }
    for (int g = 0; g < gateLayers.length; g++) {
      Dense.Buffers[] gb = b.gate[g];
      double[] p = gb[gb.length - 1].act;
      double[] dz = gb[gb.length - 1].dact;
      double[] dp = b.dprob[g];
      for (int r = 0; r < rows; r++) {
        int o = r * experts;
        double s = 0;
        for (int k = 0; k < experts; k++) {
          s += p[o + k] * dp[o + k];
        }
        for (int k = 0; k < experts; k++) {
          dz[o + k] = p[o + k] * (dp[o + k] - s);
        }
      }
      chainBackward(gateLayers[g], gb, b.x.nd, b.dx.nd, beta);
      beta = 1.0;
    }
  }

  /**
   * Back-propagates a chain whose last layer's {@code dact} is set; {@code dIn} receives the
   * gradient of the chain's input (added to {@code beta} times its content).
   */
  private void chainBackward(
      Dense[] layers, Dense.Buffers[] bufs, INDArray in, INDArray dIn, double beta) {
    for (int j = layers.length - 1; j >= 0; j--) {
      INDArray x = j == 0 ? in : bufs[j - 1].out.nd;
      INDArray target = j == 0 ? dIn : bufs[j - 1].dz.nd;
      layers[j].backward(x, bufs[j], gradAcc, target, j == 0 ? beta : 0.0);
      if (j > 0) {
        bufs[j - 1].dz.read(bufs[j - 1].dact);
      }
    }
  }
}
