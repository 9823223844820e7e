package org.mmoestream.bench;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.Batch;
import org.mmoestream.model.Embeddings;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Two designs {@code train.parallelism} does not use, measured for comparison ({@code bench
 * rounds}): N replicas each keep their own optimizer state and train a whole batch per round on
 * their own examples, and every K rounds they exchange what they have, which needs no exchange
 * between those rounds, so the CPU per example is one trainer's plus 1/K of an exchange.
 *
 * <ul>
 *   <li>{@link Exchange#MEAN}: local SGD with model averaging. Every replica is set to the mean of
 *       their dense parameters, dense optimizer state, and the rows (values and optimizer state)
 *       that some replica touched since the last exchange.
 *   <li>{@link Exchange#SUM}: asynchronous deltas, as the design before the synchronous rounds
 *       (README, "Why synchronous rounds"). Every replica is set to the model of the last exchange
 *       plus the sum of every replica's change since then (values and optimizer state), so each
 *       replica's steps count in full, as one trainer's would, but on a model up to K rounds old.
 * </ul>
 *
 * {@code bench rounds} shows what each costs in quality.
 */
final class ModelAveraging {
    private ModelAveraging() {}

    /** How the replicas' models are combined every K rounds. */
    enum Exchange {
        MEAN,
        SUM
    }

    /** {@link #train(ModelSpec, long, List, int, int, int, Exchange)} with the mean. */
    static MmoeModel train(
            ModelSpec spec, long seed, List<EncodedExample> examples, int batch, int replicas, int every) {
        return train(spec, seed, examples, batch, replicas, every, Exchange.MEAN);
    }

    /**
     * A model of {@code spec} from {@code seed} after one pass over {@code examples} in order: each
     * round the next {@code replicas} batches of {@code batch}, one to each replica, combined by
     * {@code exchange} every {@code every} rounds and at the end.
     */
    static MmoeModel train(
            ModelSpec spec,
            long seed,
            List<EncodedExample> examples,
            int batch,
            int replicas,
            int every,
            Exchange exchange) {
        List<MmoeModel> models = new ArrayList<>();
        for (int i = 0; i < replicas; i++) {
            MmoeModel m = MmoeModel.create(spec, seed, DataType.FLOAT);
            m.scalePartialBatches(batch);
            models.add(m);
        }
        // The model of the last exchange, from which SUM takes each replica's change.
        MmoeModel last = exchange == Exchange.SUM ? MmoeModel.create(spec, seed, DataType.FLOAT) : null;
        int tables = spec.features().sparse().size();
        BitSet[] touched = new BitSet[tables];
        for (int f = 0; f < tables; f++) {
            touched[f] = new BitSet();
        }
        int round = 0;
        for (int at = 0; at < examples.size(); ) {
            for (MmoeModel m : models) {
                int end = Math.min(examples.size(), at + batch);
                if (end <= at) {
                    break;
                }
                List<EncodedExample> xs = examples.subList(at, end);
                for (EncodedExample e : xs) {
                    for (int f = 0; f < tables; f++) {
                        for (int id : e.sparseIds()[f]) {
                            touched[f].set(id);
                        }
                    }
                }
                m.trainStep(Batch.of(xs));
                at = end;
            }
            if (++round % every == 0 || at >= examples.size()) {
                combine(models, last, touched);
            }
        }
        return models.get(0);
    }

    /**
     * Sets every replica to the mean of {@code models} ({@code last} null) or to {@code last} plus
     * the sum of their changes from it (and {@code last} to that): dense values, dense optimizer
     * state and the touched rows with their state.
     */
    private static void combine(List<MmoeModel> models, MmoeModel last, BitSet[] touched) {
        int n = models.size();
        int len = models.get(0).network().paramAccess().length();
        double[] base = new double[len];
        if (last != null) {
            last.network().paramAccess().read(0, base, 0, len);
        }
        double[] combined = base.clone();
        double[] one = new double[len];
        for (MmoeModel m : models) {
            m.network().paramAccess().read(0, one, 0, len);
            for (int i = 0; i < len; i++) {
                combined[i] += last == null ? one[i] / n : one[i] - base[i];
            }
        }
        List<MmoeModel> targets = new ArrayList<>(models);
        if (last != null) {
            targets.add(last);
        }
        for (MmoeModel m : targets) {
            m.network().paramAccess().write(0, combined, 0, len);
        }
        for (int s = 0; s < models.get(0).denseOptimizerState().size(); s++) {
            INDArray sum;
            if (last == null) {
                sum = models.get(0).denseOptimizerState().get(s).dup();
                for (int i = 1; i < n; i++) {
                    sum.addi(models.get(i).denseOptimizerState().get(s));
                }
                sum.divi(n);
            } else {
                INDArray from = last.denseOptimizerState().get(s);
                sum = from.dup();
                for (MmoeModel m : models) {
                    sum.addi(m.denseOptimizerState().get(s)).subi(from);
                }
            }
            for (MmoeModel m : targets) {
                m.denseOptimizerState().get(s).assign(sum);
            }
        }
        Embeddings first = models.get(0).embeddings();
        for (int f = 0; f < touched.length; f++) {
            double[] row = new double[first.feature(f).dim() * (1 + first.stateSlots())];
            double[] baseRow = new double[row.length];
            double[] rowCombined = new double[row.length];
            for (int r = touched[f].nextSetBit(0); r >= 0; r = touched[f].nextSetBit(r + 1)) {
                if (last != null) {
                    last.embeddings().readRow(f, r, baseRow);
                }
                System.arraycopy(baseRow, 0, rowCombined, 0, row.length);
                for (MmoeModel m : models) {
                    m.embeddings().readRow(f, r, row);
                    for (int k = 0; k < row.length; k++) {
                        rowCombined[k] += last == null ? row[k] / n : row[k] - baseRow[k];
                    }
                }
                for (MmoeModel m : targets) {
                    m.embeddings().writeRow(f, r, rowCombined);
                }
            }
            touched[f].clear();
        }
    }
}
