package org.mmoestream.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * {@link LocalCluster} replaces a TaskManager that exits on its own, as a production supervisor
 * would, and leaves one that {@link LocalCluster#killHard} killed to its caller.
 */
class LocalClusterSupervisorITCase {
    @Test
    void replacesATaskManagerThatExitsOnItsOwnButNotOneKilledByTheCaller() throws Exception {
        try (LocalCluster cluster = LocalCluster.start(Path.of("target/local-cluster-supervisor-it"), 1)) {
            try {
                // An exit the caller did not ask for: the JVM dies under the cluster's feet.
                ProcessHandle.of(cluster.pid("taskmanager-1")).orElseThrow().destroyForcibly();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                while (!(cluster.replacedTaskManagers().equals(List.of("taskmanager-1"))
                        && cluster.liveTaskManagers().equals(List.of("taskmanager-2"))
                        && registered(cluster).contains("taskmanager-2"))) {
                    assertTrue(
                            System.nanoTime() < deadline,
                            "within 120 s taskmanager-1 is reported replaced ("
                                    + cluster.replacedTaskManagers() + ") and a replacement taskmanager-2 runs ("
                                    + cluster.liveTaskManagers() + ") and is registered ("
                                    + registered(cluster) + ")");
                    Thread.sleep(500);
                }

                // An exit the caller asked for: no replacement. The supervisor looks once a second;
                // five seconds give it five looks.
                cluster.killHard("taskmanager-2");
                Thread.sleep(5_000);
                assertEquals(List.of(), cluster.liveTaskManagers(), "no TaskManager runs after killHard");
                assertEquals(List.of("taskmanager-1"), cluster.replacedTaskManagers());
            } catch (Throwable t) {
                System.err.println("LocalClusterSupervisorITCase failed; the cluster's logs:" + cluster.logTails(40));
                throw t;
            }
        }
    }

    /** The resource ids of the TaskManagers the JobManager has registered. */
    private static List<String> registered(LocalCluster cluster) throws Exception {
        List<String> ids = new ArrayList<>();
        for (JsonNode tm : cluster.rest("/taskmanagers").get("taskmanagers")) {
            ids.add(tm.get("id").asText());
        }
        return ids;
    }
}
