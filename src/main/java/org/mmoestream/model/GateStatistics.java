package org.mmoestream.model;

/**
 * How each task uses the experts: per task, the mean softmax weight of each expert and the mean
 * entropy (nats) of its gate distribution. An entropy near log(experts) means the gate mixes
 * evenly; near 0, it picks one expert. Tasks without a gate (shared-bottom, single-task) report
 * their fixed weights.
 */
public final class GateStatistics {
    private final int tasks;
    private final int experts;
    private final double[][] weightSum;
    private final double[] entropySum;
    private long rows;

    public GateStatistics(int tasks, int experts) {
        this.tasks = tasks;
        this.experts = experts;
        weightSum = new double[tasks][experts];
        entropySum = new double[tasks];
    }

    /** Adds the gate values of the last forward pass of {@code net} on {@code buf}. */
    public void add(MmoeNetwork net, MmoeNetwork.Buffers buf) {
        int n = buf.rows();
        for (int t = 0; t < tasks; t++) {
            int g = net.gateOfTask(t);
            if (g < 0) {
                weightSum[t][net.experts() == 1 ? 0 : t] += n;
                continue;
            }
            for (int r = 0; r < n; r++) {
                double h = 0;
                for (int e = 0; e < experts; e++) {
                    double v = buf.gateProbability(g, r, e);
                    weightSum[t][e] += v;
                    if (v > 0) {
                        h -= v * Math.log(v);
                    }
                }
                entropySum[t] += h;
            }
        }
        rows += n;
    }

    /** Mean weight of expert {@code e} in task {@code t}'s mixture. */
    public double meanWeight(int t, int e) {
        return rows == 0 ? Double.NaN : weightSum[t][e] / rows;
    }

    /** Mean gate entropy of task {@code t} in nats. */
    public double meanEntropy(int t) {
        return rows == 0 ? Double.NaN : entropySum[t] / rows;
    }

    public int experts() {
        return experts;
    }

    /** The weight sums, [task * experts + expert], for merging statistics kept elsewhere. */
    public double[] sums() {
        double[] out = new double[tasks * experts];
        for (int t = 0; t < tasks; t++) {
            System.arraycopy(weightSum[t], 0, out, t * experts, experts);
        }
        return out;
    }

    /** Rows added so far. */
    public long rows() {
        return rows;
    }

    /** Adds the weight sums of {@code n} rows kept elsewhere ({@link #sums()}); entropy is not merged. */
    public void addSums(double[] sums, long n) {
        for (int t = 0; t < tasks; t++) {
            for (int e = 0; e < experts; e++) {
                weightSum[t][e] += sums[t * experts + e];
            }
        }
        rows += n;
    }
}
