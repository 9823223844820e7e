package org.mmoestream.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JobConfigTest {
    @TempDir
    Path dir;

    @Test
    void defaultsAndNestedYaml() throws Exception {
        assertEquals(30 * 60_000L, JobConfig.defaults().millis(JobConfig.Key.CLICK_WINDOW));
        Path f = dir.resolve("job.yaml");
        Files.writeString(
                f,
                "kafka:\n  bootstrap-servers: 127.0.0.1:9999\njoin:\n  click-window: 10 min\n  "
                        + "conversion-window: 2 h\n");
        JobConfig c = JobConfig.load(f);
        assertEquals("127.0.0.1:9999", c.string(JobConfig.Key.BOOTSTRAP));
        assertEquals(600_000L, c.millis(JobConfig.Key.CLICK_WINDOW));
        assertEquals(7_200_000L, c.millis(JobConfig.Key.CONVERSION_WINDOW));
    }

    @Test
    void invalidValuesFailWithOneSentenceNamingTheKey() throws Exception {
        Path f = dir.resolve("job.yaml");
        Files.writeString(f, "join:\n  click-window: soon\n");
        InputException e = assertThrows(InputException.class, () -> JobConfig.load(f));
        assertTrue(
                e.getMessage().contains("job.yaml")
                        && e.getMessage().contains("join.click-window")
                        && e.getMessage().contains("'soon'")
                        && e.getMessage().endsWith("."),
                e.getMessage());
        e = assertThrows(InputException.class, () -> JobConfig.of(Map.of("join.clik-window", "1 s")));
        assertTrue(e.getMessage().contains("unknown key join.clik-window"), e.getMessage());
        e = assertThrows(InputException.class, () -> JobConfig.of(Map.of("kafka.transaction-timeout", "20 min")));
        assertTrue(e.getMessage().contains("15 min"), e.getMessage());
        e = assertThrows(InputException.class, () -> JobConfig.of(Map.of("topics.clicks", "bad topic!")));
        assertTrue(e.getMessage().contains("topics.clicks"), e.getMessage());
    }

    @Test
    void kafkaClientPropertiesPassThroughValidatedAndMasked() throws Exception {
        Path f = dir.resolve("job.yaml");
        Files.writeString(
                f,
                "kafka:\n  client:\n    security.protocol: SASL_SSL\n    sasl.mechanism: PLAIN\n"
                        + "    sasl.jaas.config: 'org.apache.kafka.common.security.plain.PlainLoginModule "
                        + "required username=\"u\" password=\"s3cret\";'\n");
        JobConfig c = JobConfig.load(f);
        assertEquals("SASL_SSL", c.clientProperties().getProperty("security.protocol"));
        assertTrue(c.clientProperties().getProperty("sasl.jaas.config").contains("s3cret"));
        assertTrue(
                !c.toString().contains("s3cret") && c.toString().contains("kafka.client.sasl.jaas.config=[hidden]"),
                c.toString());
        assertEquals(
                "PLAIN",
                c.with(JobConfig.Key.BATCH_SIZE, "8").clientProperties().getProperty("sasl.mechanism"));
        InputException e =
                assertThrows(InputException.class, () -> JobConfig.of(Map.of("kafka.client.sasl.mechanizm", "PLAIN")));
        assertTrue(
                e.getMessage().contains("kafka.client.sasl.mechanizm is not a Kafka client property"), e.getMessage());
    }

    @Test
    void aSerializedConfigurationReadsBackWithTheSameKeys() throws Exception {
        JobConfig cfg = JobConfig.of(java.util.Map.of("train.batch-size", "77", "join.click-window", "2 min"));
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (java.io.ObjectOutputStream out = new java.io.ObjectOutputStream(bytes)) {
            out.writeObject(cfg);
        }
        JobConfig back;
        try (java.io.ObjectInputStream in =
                new java.io.ObjectInputStream(new java.io.ByteArrayInputStream(bytes.toByteArray()))) {
            back = (JobConfig) in.readObject();
        }
        assertEquals(77, back.integer(JobConfig.Key.BATCH_SIZE));
        assertEquals(120_000L, back.millis(JobConfig.Key.CLICK_WINDOW));
        assertEquals(JobConfig.Key.values().size(), JobConfig.table().size());
    }
}
