package org.mmoestream.model;

/**
 * How each task uses the experts: per task, the mean softmax weight of each expert, the mean
 * entropy (nats) of its gate distribution and the share of examples whose largest gate weight is
 * above {@link #POLARIZED} (the gate has collapsed onto one expert for them). An entropy near
 * log(experts) means the gate mixes evenly; near 0, it picks one expert. Tasks without a gate
 * (shared-bottom, single-task) report their fixed weights.
 */
public final class GateStatistics {
    private final int tasks;
    private final int experts;
    private final double[][] weightSum;
    private final double[] entropySum;
    private final long[] polarizedRows;
    private long rows;
    /** Rows added by {@link #add} (entropy and polarization are not merged from elsewhere). */
    private long gatedRows;

    /** A gate whose largest weight is above this has, for that example, picked one expert. */
    public static final double POLARIZED = 0.9;

    public GateStatistics(int tasks, int experts) {
        this.tasks = tasks;
        this.experts = experts;
        weightSum = new double[tasks][experts];
        entropySum = new double[tasks];
        polarizedRows = new long[tasks];
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
                double max = 0;
                for (int e = 0; e < experts; e++) {
                    double v = buf.gateProbability(g, r, e);
                    weightSum[t][e] += v;
                    if (v > 0) {
                        h -= v * Math.log(v);
                    }
                    max = Math.max(max, v);
                }
                entropySum[t] += h;
                if (max > POLARIZED) {
                    polarizedRows[t]++;
                }
            }
        }
        rows += n;
        gatedRows += n;
    }

    /** Mean weight of expert {@code e} in task {@code t}'s mixture. */
    public double meanWeight(int t, int e) {
        return rows == 0 ? Double.NaN : weightSum[t][e] / rows;
    }

    /** Mean gate entropy of task {@code t} in nats (NaN when only merged sums were added). */
    public double meanEntropy(int t) {
        return gatedRows == 0 ? Double.NaN : entropySum[t] / gatedRows;
    }

    /** Share of the examples whose largest gate weight in task {@code t} is above {@link #POLARIZED}. */
    public double polarizedShare(int t) {
        return gatedRows == 0 ? Double.NaN : (double) polarizedRows[t] / gatedRows;
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
        if (n == 0) {
            // A share of no examples (a pass) carries no sums.
            return;
        }
        for (int t = 0; t < tasks; t++) {
            for (int e = 0; e < experts; e++) {
                weightSum[t][e] += sums[t * experts + e];
            }
        }
        rows += n;
    }
}
