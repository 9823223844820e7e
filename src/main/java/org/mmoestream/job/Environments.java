package org.mmoestream.job;

import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/** Execution environments of the jobs' entry points and benchmarks. */
public final class Environments {
    private Environments() {}

    /**
     * The environment of the context (a cluster when submitted with {@code flink run}, else a local
     * one), configured by the {@code config.yaml} in {@code flinkConfDir} when given.
     */
    public static StreamExecutionEnvironment of(Path flinkConfDir, int parallelism) {
        Configuration flink = flinkConfDir != null && Files.isDirectory(flinkConfDir)
                ? GlobalConfiguration.loadConfiguration(flinkConfDir.toString())
                : new Configuration();
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(flink);
        if (parallelism > 0) {
            env.setParallelism(parallelism);
        }
        return env;
    }

    /** A local cluster of {@code parallelism} slots with RocksDB, incremental checkpoints and no Kryo. */
    public static StreamExecutionEnvironment localRocksDb(int parallelism, String checkpointInterval)
            throws java.io.IOException {
        Path checkpoints = Files.createTempDirectory("mmoe-checkpoints-");
        Configuration conf = new Configuration();
        conf.setString("state.backend.type", "rocksdb");
        // As flink-conf/config.yaml: a checkpoint uploads the new SST files only, not all the state.
        conf.setString("execution.checkpointing.incremental", "true");
        conf.setString("execution.checkpointing.interval", checkpointInterval);
        conf.setString("execution.checkpointing.dir", checkpoints.toUri().toString());
        conf.setString("pipeline.generic-types", "false");
        // As flink-conf/config.yaml: timers on the heap (the join registers one per pending request).
        conf.setString("state.backend.rocksdb.timer-service.factory", "HEAP");
        // RocksDB's memory (memtables and block cache) comes from managed memory: a local cluster's
        // default of 128 MB flushes the join's pending requests to disk before their windows close.
        conf.setString("taskmanager.memory.managed.size", "1g");
        // Each checkpoint flushes the memtables into a new level-0 file, and a lookup must probe every
        // level-0 file whose range covers the key (all of them, for hashed request ids): bloom filters
        // skip the files that do not hold it.
        conf.setString("state.backend.rocksdb.use-bloom-filter", "true");
        conf.setString("taskmanager.numberOfTaskSlots", String.valueOf(parallelism));
        return StreamExecutionEnvironment.createLocalEnvironment(parallelism, conf);
    }
}
