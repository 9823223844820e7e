package org.mmoestream.feature;

import java.util.List;

/**
 * The model's inputs in order: each sparse feature's embedding, then each dense value, so the
 * input width is the sum of embedding dims plus the number of dense features (DESIGN.md, Model).
 */
public record FeatureSpec(List<SparseFeature> sparse, List<DenseFeature> dense) {

    public FeatureSpec {
        sparse = List.copyOf(sparse);
        dense = List.copyOf(dense);
    }

    /** Width of the concatenated model input. */
    public int inputDim() {
        int d = dense.size();
        for (SparseFeature f : sparse) {
            d += f.dim();
        }
        return d;
    }

    /** Column offset of sparse feature {@code i} in the model input. */
    public int sparseOffset(int i) {
        int off = 0;
        for (int k = 0; k < i; k++) {
            off += sparse.get(k).dim();
        }
        return off;
    }

    /** Column offset of the first dense value in the model input. */
    public int denseOffset() {
        return sparseOffset(sparse.size());
    }
}
