package org.mmoestream.model;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One model's step computed on several threads, in three phases ({@link Crew}). First the batch's
 * rows are cut into contiguous slices, one per thread, and each thread runs the forward pass of its
 * slice on a part of the model ({@link MmoeModel#part}: the model's parameters and tables, its own
 * gradient buffers and scratch), its share of the batch's loss (every task's mean over the rows of
 * the whole batch that count for it, so masked tasks and the labels an early feedback mode leaves
 * NaN weigh as on one thread) and the backward pass; the calling thread adds the loss's own terms.
 * Then each thread sums the slices' gradients over its pieces of the dense parameters and its
 * tables, with their norm; last, after clipping, each takes the optimizer step on the same pieces
 * and tables. The step is one thread's on the same batch to float rounding (dropout masks are
 * drawn per slice).
 *
 * <p>Threads are named {@code mmoe-step-<n>-<i>} and are daemons; {@link #close} stops them.
 */
final class ParallelStep {
    /** Fewer rows per slice than this and the step runs on the calling thread alone. */
    static final int MIN_ROWS_PER_THREAD = 16;

    private static final AtomicInteger POOLS = new AtomicInteger();

    private final MmoeModel main;
    private final MmoeModel[] parts;
    private final Crew crew;
    private final int nd;
    private final int tasks;
    private final int heads;
    private final Batch[] slices;
    private final MmoeNetwork.Buffers[] buffers;
    private final int[] from;
    /** Per task: the batch's rows that count, and the parts' summed losses and log-variance gradients. */
    private final int[] counted;

    private final double[] losses;
    private final double[] dLogVariance;
    /** The layout's entries, and which are the loss's own parameters (written by the loss, not by the slices). */
    private final List<ParamLayout.Entry> entries;

    private final boolean[] lossEntry;
    /** Per thread, its pieces of the flat parameter buffer: {entry, from, to}, about an equal share each. */
    private final int[][][] pieces;
    /** Per thread, the squared norm of its pieces of the summed gradient (with L2), and chunk scratch. */
    private final double[] partialNorm;

    private final float[][] accF;
    private final float[][] tmpF;
    private final double[][] accD;
    private final double[][] tmpD;
    private final double l2;

    ParallelStep(MmoeModel main, int threads) {
        this.main = main;
        this.parts = new MmoeModel[threads];
        for (int i = 0; i < threads; i++) {
            parts[i] = main.part();
        }
        this.crew = new Crew(threads, "mmoe-step-" + POOLS.incrementAndGet());
        this.nd = main.spec().features().dense().size();
        this.tasks = main.network().tasks();
        this.heads = main.spec().heads().size();
        this.slices = new Batch[threads];
        this.buffers = new MmoeNetwork.Buffers[threads];
        this.from = new int[threads + 1];
        this.counted = new int[tasks];
        this.losses = new double[tasks];
        this.dLogVariance = new double[tasks];
        MmoeNetwork net = main.network();
        entries = net.layout().entries();
        lossEntry = new boolean[entries.size()];
        for (int e = 0; e < entries.size(); e++) {
            ParamLayout.Entry en = entries.get(e);
            boolean loss = en == net.logVariance();
            for (int t = 0; t < tasks; t++) {
                loss |= en == net.taskLogVariance(t);
            }
            lossEntry[e] = loss;
        }
        pieces = pieces(entries, net.layout().size(), threads);
        partialNorm = new double[threads];
        accF = new float[threads][CHUNK];
        tmpF = new float[threads][CHUNK];
        accD = new double[threads][CHUNK];
        tmpD = new double[threads][CHUNK];
        l2 = main.spec().optimizer().l2();
    }

    private static final int CHUNK = 4096;

    /** Cuts [0, size) into {@code threads} about equal ranges, each as its pieces of the entries. */
    static int[][][] pieces(List<ParamLayout.Entry> entries, int size, int threads) {
        int[][][] out = new int[threads][][];
        for (int i = 0; i < threads; i++) {
            long lo = (long) size * i / threads;
            long hi = (long) size * (i + 1) / threads;
            List<int[]> mine = new ArrayList<>();
            for (int e = 0; e < entries.size(); e++) {
                ParamLayout.Entry en = entries.get(e);
                long from = Math.max(lo, en.offset());
                long to = Math.min(hi, (long) en.offset() + en.size());
                if (from < to) {
                    mine.add(new int[] {e, (int) from, (int) to});
                }
            }
            out[i] = mine.toArray(new int[0][]);
        }
        return out;
    }

    int threads() {
        return parts.length;
    }

    /** Whether a batch of {@code rows} rows is cut into slices (else one thread computes it). */
    boolean splits(int rows) {
        return rows >= MIN_ROWS_PER_THREAD * parts.length;
    }

    /**
     * The gradient of {@code b} (whose rows the dense statistics have taken in): dense part in the
     * main network's gradient buffer, rows in the main model's row gradients.
     */
    MmoeModel.Gradients gradients(Batch b) {
        int rows = b.rows();
        int k = parts.length;
        for (int i = 0; i <= k; i++) {
            from[i] = (int) ((long) rows * i / k);
        }
        for (int i = 0; i < k; i++) {
            slices[i] = b.slice(from[i], from[i + 1], nd);
        }
        long step = main.step();
        main.objective().countRows(b, counted);
        double[] partTotal = new double[k];
        double[][][] predictions = new double[k][][];
        Embeddings.RowGradients[][] rowGrads = new Embeddings.RowGradients[k][];
        // Forward, the slice's share of the batch's loss (each task's mean over the batch's rows), backward.
        crew.run(i -> {
            buffers[i] = parts[i].forwardPart(slices[i], step);
            partTotal[i] = parts[i].lossAndBackward(slices[i], buffers[i], counted);
            rowGrads[i] = parts[i].embeddingGradients(slices[i]);
            predictions[i] = parts[i].probabilities(buffers[i]);
        });
        double total = 0;
        java.util.Arrays.fill(losses, 0);
        java.util.Arrays.fill(dLogVariance, 0);
        for (int i = 0; i < k; i++) {
            total += partTotal[i];
            for (int t = 0; t < tasks; t++) {
                losses[t] += parts[i].taskLosses()[t];
                dLogVariance[t] += parts[i].dLogVariance()[t];
            }
        }
        double loss = main.finishLoss(total, losses, counted, dLogVariance);
        Embeddings e = main.embeddings();
        Embeddings.RowGradients[] merged = new Embeddings.RowGradients[e.count()];
        crew.run(i -> {
            sumDense(i);
            // Every k-th table's row gradients: the slices' summed, rows in batch order, and their norm.
            double norm = 0;
            for (int t = i; t < merged.length; t += k) {
                merged[t] = e.gradients(t);
                merged[t].begin(b.uses(t));
                for (int j = 0; j < k; j++) {
                    merged[t].addAll(rowGrads[j][t]);
                }
                norm += e.squaredNorm(merged, l2, t);
            }
            partialNorm[i] += norm;
        });
        double[][] p = new double[heads][rows];
        for (int i = 0; i < k; i++) {
            for (int h = 0; h < heads; h++) {
                System.arraycopy(predictions[i][h], 0, p[h], from[i], from[i + 1] - from[i]);
            }
        }
        return new MmoeModel.Gradients(p, loss, main.taskLosses().clone(), merged);
    }

    /**
     * Thread {@code i}'s pieces of the main gradient buffer := the sum of the slices' (the loss's own
     * entries kept as the loss wrote them), and their squared norm with L2 into {@code partialNorm[i]}.
     */
    private void sumDense(int i) {
        NdAccess g = main.network().gradAccess();
        NdAccess p = main.network().paramAccess();
        boolean f32 = g.float32() && p.float32();
        double norm = 0;
        for (int[] piece : pieces[i]) {
            ParamLayout.Entry en = entries.get(piece[0]);
            double decay = en.weight() ? l2 : 0.0;
            boolean loss = lossEntry[piece[0]];
            for (int off = piece[1]; off < piece[2]; off += CHUNK) {
                int n = Math.min(CHUNK, piece[2] - off);
                if (f32) {
                    float[] acc = accF[i];
                    float[] tmp = tmpF[i];
                    if (loss) {
                        g.readFloats(off, acc, 0, n);
                    } else {
                        parts[0].network().gradAccess().readFloats(off, acc, 0, n);
                        for (int k = 1; k < parts.length; k++) {
                            parts[k].network().gradAccess().readFloats(off, tmp, 0, n);
                            for (int j = 0; j < n; j++) {
                                acc[j] += tmp[j];
                            }
                        }
                        g.writeFloats(off, acc, 0, n);
                    }
                    if (decay != 0) {
                        p.readFloats(off, tmp, 0, n);
                    }
                    for (int j = 0; j < n; j++) {
                        double v = acc[j] + (decay != 0 ? decay * tmp[j] : 0);
                        norm += v * v;
                    }
                } else {
                    double[] acc = accD[i];
                    double[] tmp = tmpD[i];
                    if (loss) {
                        g.read(off, acc, 0, n);
                    } else {
                        parts[0].network().gradAccess().read(off, acc, 0, n);
                        for (int k = 1; k < parts.length; k++) {
                            parts[k].network().gradAccess().read(off, tmp, 0, n);
                            for (int j = 0; j < n; j++) {
                                acc[j] += tmp[j];
                            }
                        }
                        g.write(off, acc, 0, n);
                    }
                    if (decay != 0) {
                        p.read(off, tmp, 0, n);
                    }
                    for (int j = 0; j < n; j++) {
                        double v = acc[j] + (decay != 0 ? decay * tmp[j] : 0);
                        norm += v * v;
                    }
                }
            }
        }
        partialNorm[i] = norm;
    }

    /** The squared norm (with L2) of the gradient the threads summed last, dense part and rows. */
    double squaredNorm() {
        double s = 0;
        for (double v : partialNorm) {
            s += v;
        }
        return s;
    }

    /**
     * The optimizer step {@code step} on the main model's gradient at {@code scale}: each thread
     * its pieces of the dense parameters and every {@code threads}-th table's touched rows, with an
     * optimizer of its own (its scratch), all of the main model's state.
     */
    void update(long step, double scale, Embeddings.RowGradients[] rowGrads) {
        crew.run(i -> {
            org.mmoestream.model.optim.Optimizer opt = parts[i].optimizer();
            opt.begin(step);
            NdAccess p = main.network().paramAccess();
            NdAccess g = main.network().gradAccess();
            NdAccess[] state = main.denseStateAccess();
            for (int[] piece : pieces[i]) {
                double decay = entries.get(piece[0]).weight() ? l2 : 0.0;
                opt.updateDense(p, g, state, piece[1], piece[2], scale, decay);
            }
            for (int t = i; t < rowGrads.length; t += parts.length) {
                main.embeddings().update(opt, rowGrads, scale, t);
            }
        });
    }

    /** Adds the gate statistics of the last gradient's slices. */
    void addGateStatistics(GateStatistics gates) {
        for (int i = 0; i < parts.length; i++) {
            gates.add(parts[i].network(), buffers[i]);
        }
    }

    /** The work of one slice (or one thread's pieces) of a phase. */
    interface Part {
        void run(int i);
    }

    void close() {
        crew.close();
    }
}
