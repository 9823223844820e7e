package org.mmoestream.model;

import java.util.List;
import java.util.Map;

/**
 * The shallow tower on selection-bias features (position, device) of Zhao et al. (RecSys 2019): a
 * linear unit over the embeddings of the spec's bias features ({@code features.sparse[].bias}),
 * whose logit is added to the logits of {@code tasks} in training, so that the main network does not
 * learn the position's effect as relevance. At serving the bias features are unknown: the logit is
 * left out, or, for the features named in {@code serving}, taken at those values (the calibration of
 * a fixed position); the ranking is the same either way.
 *
 * @param tasks the tasks whose logits take the bias logit in training
 * @param serving values of the bias features at serving (empty: the bias logit is left out)
 */
public record BiasTower(List<String> tasks, Map<String, String> serving) {
    public BiasTower {
        tasks = List.copyOf(tasks);
        serving = Map.copyOf(serving == null ? Map.of() : serving);
    }
}
