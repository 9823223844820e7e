package org.mmoestream.train;

import java.util.Map;
import org.apache.flink.api.common.state.KeyedStateStore;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;

/**
 * The keyed state of a model, one set of descriptors for the single trainer ({@link
 * TrainOperator}) and the reducer of a model trained on several subtasks ({@link GradientReducer}):
 * both run under the uid {@code trainer}, so a savepoint taken with one restores into the other
 * (a change of {@code train.parallelism} across a restart keeps the model).
 */
final class TrainState {
    /** Name of the counters state; a model has state when it has counters. */
    static final String COUNTERS = "counters";

    private TrainState() {}

    static ModelRuntime.StateAccess open(KeyedStateStore store) {
        var floats = PrimitiveArrayTypeInfo.FLOAT_PRIMITIVE_ARRAY_TYPE_INFO;
        MapState<Long, float[]> rows = store.getMapState(new MapStateDescriptor<>("rows", Types.LONG, floats));
        TypeInformation<TrainExample> examples = TypeInformation.of(TrainExample.class);
        return new ModelRuntime.StateAccess(
                store.getState(new ValueStateDescriptor<>("dense", floats)),
                store.getState(new ValueStateDescriptor<>("dense-optimizer", floats)),
                store.getState(new ValueStateDescriptor<>(
                        "dense-stats", PrimitiveArrayTypeInfo.DOUBLE_PRIMITIVE_ARRAY_TYPE_INFO)),
                store.getState(
                        new ValueStateDescriptor<>(COUNTERS, PrimitiveArrayTypeInfo.LONG_PRIMITIVE_ARRAY_TYPE_INFO)),
                new MapStateRows(rows),
                store.getListState(new ListStateDescriptor<>("buffer", examples)),
                store.getListState(new ListStateDescriptor<>("held", examples)));
    }

    /** The rows of the current key's model in keyed map state. */
    private record MapStateRows(MapState<Long, float[]> rows) implements RowStore {
        @Override
        public float[] get(long key) throws Exception {
            return rows.get(key);
        }

        @Override
        public void put(long key, float[] row) throws Exception {
            rows.put(key, row);
        }

        @Override
        public void putAll(Map<Long, float[]> many) throws Exception {
            rows.putAll(many);
        }

        @Override
        public Iterable<Map.Entry<Long, float[]>> entries() throws Exception {
            return rows.entries();
        }
    }

    /**
     * The models in {@code backend}'s state that {@code loaded} does not hold: restored from a
     * checkpoint and given no message since (at the end of a bounded input they are loaded, so that
     * what they trained is published too).
     */
    static java.util.List<String> restoredKeys(
            org.apache.flink.runtime.state.KeyedStateBackend<String> backend, java.util.Set<String> loaded) {
        try (java.util.stream.Stream<String> keys =
                backend.getKeys(COUNTERS, org.apache.flink.runtime.state.VoidNamespace.INSTANCE)) {
            return keys.filter(k -> !loaded.contains(k)).toList();
        }
    }
}
