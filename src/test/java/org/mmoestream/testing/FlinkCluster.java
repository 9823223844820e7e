package org.mmoestream.testing;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.MiniClusterExtension;

/** The MiniCluster of the integration tests: RocksDB, checkpoints every 200 ms, no Kryo, restarts. */
public final class FlinkCluster {
    private FlinkCluster() {}

    public static Configuration config() {
        Configuration c = new Configuration();
        c.setString("state.backend.type", "rocksdb");
        c.setString("execution.checkpointing.interval", "200 ms");
        c.setString("pipeline.generic-types", "false");
        c.setString("restart-strategy.type", "fixed-delay");
        c.setString("restart-strategy.fixed-delay.attempts", "5");
        c.setString("restart-strategy.fixed-delay.delay", "200 ms");
        return c;
    }

    /**
     * The id of the checkpoint the finished job {@code job} last restored from, or -1 when it never
     * restored: a forced failure proves recovery only when the job came back from a checkpoint.
     */
    public static long restoredCheckpoint(
            org.apache.flink.runtime.minicluster.MiniCluster cluster, org.apache.flink.api.common.JobID job)
            throws Exception {
        var restored = cluster.getArchivedExecutionGraph(job)
                .get()
                .getCheckpointStatsSnapshot()
                .getLatestRestoredCheckpoint();
        return restored == null ? -1 : restored.getCheckpointId();
    }

    /** One TaskManager with two slots, configured by {@link #config()}. */
    public static MiniClusterExtension extension() {
        return new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
                .setNumberTaskManagers(1)
                .setNumberSlotsPerTaskManager(2)
                .setConfiguration(config())
                .build());
    }
}
