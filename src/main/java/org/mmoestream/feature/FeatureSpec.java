package org.mmoestream.feature;

import java.util.List;

/**
 * The model's inputs in order: each sparse feature's embedding, then each dense value, so the
 * input width is the sum of embedding dims plus the number of dense features (DESIGN.md, Model).
 * Selection-bias features ({@link SparseFeature#bias}) are not inputs of the experts and gates:
 * the gathered row holds their embeddings after the dense values, for the bias tower.
 */
public record FeatureSpec(List<SparseFeature> sparse, List<DenseFeature> dense) {

    public FeatureSpec {
        sparse = List.copyOf(sparse);
        dense = List.copyOf(dense);
    }

    /** The column of the sparse or dense feature named {@code name}, or null when the spec has none. */
    public String column(String name) {
        for (SparseFeature f : sparse) {
            if (f.name().equals(name)) {
                return f.column();
            }
        }
        for (DenseFeature f : dense) {
            if (f.name().equals(name)) {
                return f.column();
            }
        }
        return null;
    }

    /** Width of the concatenated input of the experts and gates (bias features excluded). */
    public int inputDim() {
        return denseOffset() + dense.size();
    }

    /** Width of the embeddings of the bias features. */
    public int biasDim() {
        int d = 0;
        for (SparseFeature f : sparse) {
            d += f.bias() ? f.dim() : 0;
        }
        return d;
    }

    /** Width of a gathered row: the model input, then the bias features' embeddings. */
    public int gatherWidth() {
        return inputDim() + biasDim();
    }

    /**
     * Column offset of sparse feature {@code i} in a gathered row: in the model input, or for a bias
     * feature after it.
     */
    public int sparseOffset(int i) {
        boolean bias = sparse.get(i).bias();
        int off = bias ? inputDim() : 0;
        for (int k = 0; k < i; k++) {
            if (sparse.get(k).bias() == bias) {
                off += sparse.get(k).dim();
            }
        }
        return off;
    }

    /** Column offset of the first dense value in the model input. */
    public int denseOffset() {
        int off = 0;
        for (SparseFeature f : sparse) {
            off += f.bias() ? 0 : f.dim();
        }
        return off;
    }
}
