package org.mmoestream.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
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

/**
 * The manifests in deploy/ name the project's own jar, entry classes and valid configuration keys;
 * the FlinkDeployments validate against the CRD schema of the operator release the README names
 * (1.15.0, kept in the test resources) and mount the job configuration where {@code main} runs.
 */
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

    /** The operator release whose CRD the manifests are checked against (README, Running on Kubernetes). */
    static final String OPERATOR_CRD = "src/test/resources/deploy/flinkdeployments.flink.apache.org-v1.yml";

    /**
     * The FlinkDeployment schema (v1beta1) of the CRD as JSON Schema: OpenAPI's {@code nullable}
     * and the {@code x-kubernetes-*} markers are dropped (they only relax it, and no manifest here
     * relies on them).
     */
    static JsonSchema flinkDeploymentSchema() throws Exception {
        JsonNode crd = documents(Path.of(OPERATOR_CRD)).get(0);
        JsonNode schema = null;
        for (JsonNode v : crd.at("/spec/versions")) {
            if (v.get("name").asText().equals("v1beta1")) {
                schema = v.at("/schema/openAPIV3Schema").deepCopy();
            }
        }
        assertNotNull(schema, "v1beta1 in the CRD");
        dropOpenApiMarkers(schema);
        return JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V4).getSchema(schema);
    }

    private static void dropOpenApiMarkers(JsonNode n) {
        if (n instanceof ObjectNode o) {
            List<String> drop = new ArrayList<>();
            o.fieldNames().forEachRemaining(f -> {
                if (f.equals("nullable") || f.startsWith("x-kubernetes-")) {
                    drop.add(f);
                }
            });
            o.remove(drop);
        }
        n.forEach(DeployManifestsTest::dropOpenApiMarkers);
    }

    /** Whether {@code role} (jobManager or taskManager) of {@code spec} mounts a volume at {@code dir}. */
    static boolean mounts(JsonNode spec, String role, String dir) {
        for (JsonNode template :
                List.of(spec.path("podTemplate"), spec.path(role).path("podTemplate"))) {
            for (JsonNode c : template.at("/spec/containers")) {
                if (!c.path("name").asText().equals("flink-main-container")) {
                    continue;
                }
                for (JsonNode m : c.path("volumeMounts")) {
                    if (m.path("mountPath").asText().equals(dir)) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    @Test
    void flinkDeploymentsFollowTheOperatorSchemaAndMountTheConfigWhereMainRuns() throws Exception {
        JsonSchema schema = flinkDeploymentSchema();
        for (String job : List.of("pipeline", "scoring")) {
            JsonNode dep = documents(Path.of("deploy/k8s/" + job + ".yaml")).stream()
                    .filter(d -> d.path("kind").asText().equals("FlinkDeployment"))
                    .findFirst()
                    .orElseThrow();
            assertEquals(Set.of(), schema.validate(dep), job + ": FlinkDeployment against the operator's schema");
            // Application mode: main runs in the JobManager, which reads --config there.
            String config = dep.at("/spec/job/args/1").asText();
            String dir = config.substring(0, config.lastIndexOf('/'));
            assertTrue(mounts(dep.get("spec"), "jobManager", dir), job + ": " + dir + " mounted in the JobManager");
            assertTrue(mounts(dep.get("spec"), "taskManager", dir), job + ": " + dir + " mounted in the TaskManagers");
        }
    }

    @Test
    void theSchemaCatchesAWrongFlinkVersionAndAnUnknownField() throws Exception {
        JsonSchema schema = flinkDeploymentSchema();
        JsonNode dep = documents(Path.of("deploy/k8s/pipeline.yaml")).stream()
                .filter(d -> d.path("kind").asText().equals("FlinkDeployment"))
                .findFirst()
                .orElseThrow();
        ObjectNode wrong = dep.deepCopy();
        ((ObjectNode) wrong.get("spec")).put("flinkVersion", "v2_9");
        assertFalse(schema.validate(wrong).isEmpty(), "flinkVersion v2_9");
        ObjectNode typo = dep.deepCopy();
        ((ObjectNode) typo.at("/spec/job")).put("parallelism", "two");
        assertFalse(schema.validate(typo).isEmpty(), "parallelism as text");
    }

    @Test
    void theImageHoldsWhatTheManifestsName() throws Exception {
        String docker = Files.readString(Path.of("deploy/docker/Dockerfile"));
        assertTrue(docker.contains("FROM flink:2.2.1-java17"), "Flink 2.2.1, Java 17");
        assertTrue(docker.contains("COPY target/" + JAR + " /opt/flink/usrlib/" + JAR), "the jar in usrlib");
        assertTrue(docker.contains("COPY examples/ /opt/mmoe/examples/"), "the example specs");
        assertTrue(docker.contains("ENV OMP_NUM_THREADS=1"), "one OpenMP thread");
        assertTrue(docker.contains("/opt/flink/plugins/s3-fs-presto"), "the S3 plugin enabled");
        for (String job : List.of("pipeline", "scoring")) {
            JsonNode dep = documents(Path.of("deploy/k8s/" + job + ".yaml")).stream()
                    .filter(d -> d.path("kind").asText().equals("FlinkDeployment"))
                    .findFirst()
                    .orElseThrow();
            assertEquals(
                    "local:///opt/flink/usrlib/" + JAR,
                    dep.at("/spec/job/jarURI").asText(),
                    job);
            assertEquals("mmoe-stream:0.1.0", dep.at("/spec/image").asText(), job);
        }
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
            assertTrue(args.get(1).asText().endsWith("/job.yaml"), job + " --config");
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
            assertTrue(cmd.contains("/opt/flink/usrlib/" + JAR), job + " runs the image's jar");
            // Submitted once the JobManager's REST API answers and the topics exist.
            JsonNode after = services.get(job).get("depends_on");
            assertEquals("service_healthy", after.at("/jobmanager/condition").asText(), job);
            assertEquals(
                    "service_completed_successfully",
                    after.at("/topics/condition").asText(),
                    job);
            assertEquals("--config", cmd.get(cmd.size() - 2));
        }
        assertTrue(services.at("/jobmanager/healthcheck/test").toString().contains("8081"), "JobManager health");
        // The scrape configuration of deploy/grafana/prometheus.yml finds a reporter on every Flink process.
        for (String flink : List.of("jobmanager", "taskmanager")) {
            String props =
                    services.at("/" + flink + "/environment/FLINK_PROPERTIES").asText();
            assertTrue(
                    props.contains("metrics.reporter.prom.factory.class: "
                                    + "org.apache.flink.metrics.prometheus.PrometheusReporterFactory")
                            && props.contains("metrics.reporter.prom.port: 9249"),
                    flink + ": " + props);
        }
        assertTrue(services.at("/topics/entrypoint").toString().contains("create-topics.sh"), "topics service");
        String topics = Files.readString(Path.of("deploy/create-topics.sh"));
        for (String[] row : JobConfig.table()) {
            if (row[0].startsWith("topics.")) {
                assertTrue(topics.contains("create " + row[1] + " "), "create-topics.sh creates " + row[1]);
            }
        }
    }
}
