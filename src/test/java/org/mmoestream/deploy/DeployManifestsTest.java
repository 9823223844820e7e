package org.mmoestream.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.config.JobConfig;

/** The manifests in deploy/ name the project's own jar, entry classes and valid configuration keys. */
class DeployManifestsTest {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final String JAR = "mmoe-stream-all.jar";

    @TempDir
    Path tmp;

    private static List<JsonNode> documents(Path file) throws Exception {
        List<JsonNode> docs = new ArrayList<>();
        try (var it = YAML.readerFor(JsonNode.class).readValues(file.toFile())) {
            while (it.hasNext()) {
                docs.add((JsonNode) it.next());
            }
        }
        return docs;
    }

    private static void assertEntryClass(String name) throws Exception {
        Method main = Class.forName(name).getMethod("main", String[].class);
        assertTrue(Modifier.isStatic(main.getModifiers()), name + ".main is static");
    }

    private static Set<String> flinkConfKeys() throws Exception {
        Set<String> keys = new HashSet<>();
        documents(Path.of("flink-conf/config.yaml")).get(0).fieldNames().forEachRemaining(keys::add);
        return keys;
    }

    @Test
    void jarNameMatchesTheShadedBuild() throws Exception {
        String pom = Files.readString(Path.of("pom.xml"));
        assertTrue(pom.contains("<finalName>" + JAR.replace(".jar", "") + "</finalName>"));
    }

    @Test
    void kubernetesDeploymentsAreValid() throws Exception {
        Set<String> projectKeys = flinkConfKeys();
        Set<String> deploymentOnly = Set.of("taskmanager.numberOfTaskSlots", "metrics.reporter.prom.port");
        for (String job : List.of("pipeline", "scoring")) {
            List<JsonNode> docs = documents(Path.of("deploy/k8s/" + job + ".yaml"));
            JsonNode configMap = docs.stream()
                    .filter(d -> d.path("kind").asText().equals("ConfigMap"))
                    .findFirst()
                    .orElseThrow();
            JsonNode dep = docs.stream()
                    .filter(d -> d.path("kind").asText().equals("FlinkDeployment"))
                    .findFirst()
                    .orElseThrow();
            assertEquals("flink.apache.org/v1beta1", dep.get("apiVersion").asText());
            JsonNode spec = dep.get("spec");
            assertTrue(spec.at("/job/jarURI").asText().endsWith("/" + JAR), job + " jarURI");
            String entry = spec.at("/job/entryClass").asText();
            assertEquals(
                    job.equals("pipeline") ? "org.mmoestream.job.PipelineMain" : "org.mmoestream.job.ScoringMain",
                    entry);
            assertEntryClass(entry);
            // The job config comes from the ConfigMap, mounted where --config points, and is valid.
            JsonNode args = spec.at("/job/args");
            assertEquals("--config", args.get(0).asText());
            String mount = spec.at("/taskManager/podTemplate/spec/containers/0/volumeMounts/0/mountPath")
                    .asText();
            assertEquals(mount + "/job.yaml", args.get(1).asText());
            Path jobYaml = tmp.resolve(job + ".yaml");
            Files.writeString(jobYaml, configMap.at("/data/job.yaml").asText());
            JobConfig.load(jobYaml);
            // Flink settings: the project's own keys, RocksDB, no Kryo.
            JsonNode flink = spec.get("flinkConfiguration");
            Iterator<String> keys = flink.fieldNames();
            while (keys.hasNext()) {
                String k = keys.next();
                assertTrue(projectKeys.contains(k) || deploymentOnly.contains(k), job + ": unknown Flink key " + k);
            }
            assertEquals("rocksdb", flink.get("state.backend.type").asText());
            assertEquals("false", flink.get("pipeline.generic-types").asText());
        }
    }

    @Test
    void composeAndScriptsMatchTheProject() throws Exception {
        JobConfig.load(Path.of("deploy/job.yaml"));
        JsonNode services =
                documents(Path.of("deploy/docker-compose.yml")).get(0).get("services");
        for (String job : List.of("pipeline", "scoring")) {
            List<String> cmd = new ArrayList<>();
            services.get(job).get("command").forEach(c -> cmd.add(c.asText()));
            String entry = cmd.get(cmd.indexOf("-c") + 1);
            assertEntryClass(entry);
            assertTrue(cmd.contains("/opt/mmoe/" + JAR), job + " runs the shaded jar");
            assertEquals("--config", cmd.get(cmd.size() - 2));
        }
        String topics = Files.readString(Path.of("deploy/create-topics.sh"));
        for (String[] row : JobConfig.table()) {
            if (row[0].startsWith("topics.")) {
                assertTrue(topics.contains("create " + row[1] + " "), "create-topics.sh creates " + row[1]);
            }
        }
    }
}
