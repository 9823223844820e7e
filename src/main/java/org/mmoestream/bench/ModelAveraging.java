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
 * Local SGD with model averaging, the design {@code train.parallelism} does not use, measured for
 * comparison ({@code bench rounds}): N replicas each keep their own optimizer state and train a
 * whole batch per round on their own examples, and every K rounds every replica is set to the
 * mean of their dense parameters, dense optimizer state, and the rows (values and optimizer state)
 * that some replica touched since the last mean. It needs no exchange between those means, so its
 * CPU per example is one trainer's plus 1/K of an exchange; {@code bench rounds} shows what it
 * costs in quality.
 */
final class ModelAveraging {
    private ModelAveraging() {}

    /**
     * A model of {@code spec} from {@code seed} after one pass over {@code examples} in order: each
     * round the next {@code replicas} batches of {@code batch}, one to each replica, averaged every
     * {@code every} rounds and at the end.
     */
    static MmoeModel train(
            ModelSpec spec, long seed, List<EncodedExample> examples, int batch, int replicas, int every) {
        List<MmoeModel> models = new ArrayList<>();
        for (int i = 0; i < replicas; i++) {
            MmoeModel m = MmoeModel.create(spec, seed, DataType.FLOAT);
            m.scalePartialBatches(batch);
            models.add(m);
        }
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
                average(models, touched);
            }
        }
        return models.get(0);
    }

    private static void average(List<MmoeModel> models, BitSet[] touched) {
        int n = models.size();
        int len = models.get(0).network().paramAccess().length();
        double[] mean = new double[len];
        double[] one = new double[len];
        for (MmoeModel m : models) {
            m.network().paramAccess().read(0, one, 0, len);
            for (int i = 0; i < len; i++) {
                mean[i] += one[i] / n;
            }
        }
        for (MmoeModel m : models) {
            m.network().paramAccess().write(0, mean, 0, len);
        }
        for (int s = 0; s < models.get(0).denseOptimizerState().size(); s++) {
            INDArray sum = models.get(0).denseOptimizerState().get(s).dup();
            for (int i = 1; i < n; i++) {
                sum.addi(models.get(i).denseOptimizerState().get(s));
            }
            sum.divi(n);
            for (MmoeModel m : models) {
                m.denseOptimizerState().get(s).assign(sum);
            }
        }
        Embeddings first = models.get(0).embeddings();
        for (int f = 0; f < touched.length; f++) {
            double[] row = new double[first.feature(f).dim() * (1 + first.stateSlots())];
            double[] rowMean = new double[row.length];
            for (int r = touched[f].nextSetBit(0); r >= 0; r = touched[f].nextSetBit(r + 1)) {
                java.util.Arrays.fill(rowMean, 0);
                for (MmoeModel m : models) {
                    m.embeddings().readRow(f, r, row);
                    for (int k = 0; k < row.length; k++) {
                        rowMean[k] += row[k] / n;
                    }
                }
                for (MmoeModel m : models) {
                    m.embeddings().writeRow(f, r, rowMean);
                }
            }
            touched[f].clear();
        }
    }
}
