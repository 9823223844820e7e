package org.mmoestream.train;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;

/**
 * Spreads one model's examples over its replicas: an example goes to replica {@code
 * hash(request id) mod N}, and the key of replica r is chosen so that Flink assigns it to subtask
 * r of the replicas' operator (a plain {@code model + r} key would put two replicas on one subtask
 * as often as not). Keys are {@code <model> \\u0001 <r> \\u0001 <k>}, k the first that lands on r.
 */
public final class ReplicaKeys implements KeySelector<TrainExample, String> {
    private static final long serialVersionUID = 1L;
    static final char SEPARATOR = '\u0001';

    private final int replicas;
    private transient Map<String, String[]> keys;

    /** Keys for {@code replicas} subtasks of an operator of maximum parallelism {@link #MAX_REPLICAS}. */
    public ReplicaKeys(int replicas) {
        this.replicas = replicas;
    }

    /**
     * The maximum parallelism of the replicas' operator, the same at every {@code train.parallelism}
     * (Flink restores keyed state only into the maximum parallelism it was written with), and so the
     * most replicas a model can have.
     */
    public static final int MAX_REPLICAS = 1024;

    @Override
    public String getKey(TrainExample e) {
        return keyOf(e.model, Math.floorMod(e.requestId.hashCode(), replicas));
    }

    /** The key of replica {@code r} of {@code model}. */
    String keyOf(String model, int r) {
        if (keys == null) {
            keys = new ConcurrentHashMap<>();
        }
        return keys.computeIfAbsent(model, m -> {
            String[] out = new String[replicas];
            for (int i = 0; i < replicas; i++) {
                for (int k = 0; ; k++) {
                    String key = m + SEPARATOR + i + SEPARATOR + k;
                    if (KeyGroupRangeAssignment.assignKeyToParallelOperator(key, MAX_REPLICAS, replicas) == i) {
                        out[i] = key;
                        break;
                    }
                }
            }
            return out;
        })[r];
    }

    /** The model of a replica key. */
    static String model(String key) {
        return key.substring(0, key.indexOf(SEPARATOR));
    }

    /** The replica index of a replica key. */
    static int replica(String key) {
        int a = key.indexOf(SEPARATOR);
        return Integer.parseInt(key.substring(a + 1, key.indexOf(SEPARATOR, a + 1)));
    }
}
