package org.mmoestream.model;

/**
 * The training loss: the sum over tasks of the mean binary cross-entropy with logits, where a task
 * masked by another (CVR by CTR) counts only the rows where that task's label is 1. With ESMM (Ma
 * et al., SIGIR 2018, Eq. 3) CVR has no loss of its own: pCTCVR = pCTR x pCVR is trained against
 * click x conversion on every row, so the CVR tower learns over the entire impression space.
 *
 * <p>Stability: BCE(z, y) = max(z, 0) - z y + log(1 + exp(-|z|)). For CTCVR, with s = sigmoid(z)
 * and q = sigmoid(-z), log p = log s1 + log s2 and 1 - p = q1 + s1 q2 (no cancellation), which
 * gives dL/dz1 = q1 (p - y) / (1 - p) and dL/dz2 = q2 (p - y) / (1 - p).
 */
public final class Objective {
  private final int tasks;
  private final int[] maskOf;
  private final int ctr;
  private final int cvr;

  /**
   * @param maskOf per task, the index of the task masking it, or -1
   * @param ctr index of the CTR task when ESMM is on, else -1
   * @param cvr index of the CVR task when ESMM is on, else -1
   */
  public Objective(int[] maskOf, int ctr, int cvr) {
    this.tasks = maskOf.length;
    this.maskOf = maskOf.clone();
    this.ctr = ctr;
    this.cvr = cvr;
  }

  public boolean esmm() {
    return ctr >= 0;
  }

  /**
   * Computes the loss of a batch and its gradient with respect to the logits.
   *
   * @param logits [rows, tasks] row-major
   * @param dLogits receives dLoss/dLogits, [rows, tasks] row-major
   * @param taskLoss receives each task's loss (for ESMM the CVR slot holds the CTCVR loss)
   * @return the total loss
   */
  public double evaluate(double[] logits, Batch b, double[] dLogits, double[] taskLoss) {
    int rows = b.rows;
    java.util.Arrays.fill(dLogits, 0, rows * tasks, 0.0);
    double total = 0;
    for (int t = 0; t < tasks; t++) {
      double loss = t == cvr ? ctcvr(logits, b, dLogits) : bce(t, logits, b, dLogits);
      taskLoss[t] = loss;
      total += loss;
    }
    return total;
  }

  private double bce(int t, double[] logits, Batch b, double[] dLogits) {
    int rows = b.rows;
    int m = maskOf[t];
    int n = 0;
    for (int r = 0; r < rows; r++) {
      if (m < 0 || b.labels[m][r] > 0.5f) {
        n++;
      }
    }
    if (n == 0) {
      return 0;
    }
    double loss = 0;
    for (int r = 0; r < rows; r++) {
      if (m >= 0 && b.labels[m][r] <= 0.5f) {
        continue;
      }
      double z = logits[r * tasks + t];
      double y = b.labels[t][r];
      loss += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
      dLogits[r * tasks + t] += (sigmoid(z) - y) / n;
    }
    return loss / n;
  }

  private double ctcvr(double[] logits, Batch b, double[] dLogits) {
    int rows = b.rows;
    double loss = 0;
    for (int r = 0; r < rows; r++) {
      double z1 = logits[r * tasks + ctr];
      double z2 = logits[r * tasks + cvr];
      double y = b.labels[ctr][r] * b.labels[cvr][r];
      double s1 = sigmoid(z1);
      double q1 = sigmoid(-z1);
      double s2 = sigmoid(z2);
      double q2 = sigmoid(-z2);
      double p = s1 * s2;
      double oneMinusP = q1 + s1 * q2;
      double logP = -softplus(-z1) - softplus(-z2);
      loss += -y * logP - (1 - y) * Math.log(oneMinusP);
      double common = (p - y) / oneMinusP / rows;
      dLogits[r * tasks + ctr] += q1 * common;
      dLogits[r * tasks + cvr] += q2 * common;
    }
    return loss / rows;
  }

  /** Numerically stable logistic function. */
  public static double sigmoid(double z) {
    if (z >= 0) {
      return 1 / (1 + Math.exp(-z));
    }
    double e = Math.exp(z);
    return e / (1 + e);
  }

  private static double softplus(double z) {
    return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
  }
}
