package org.mmoestream.config;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;

/** Every plain client gets the job's kafka.client.* properties and the project's guarantees. */
class KafkaClientsTest {
    @Test
    void securityPropertiesPassAndTheGuaranteesHold() {
        JobConfig cfg = JobConfig.of(Map.of(
                "kafka.client.security.protocol", "SASL_SSL",
                "kafka.client.isolation.level", "read_uncommitted",
                "kafka.client.acks", "1"));
        Properties c = KafkaClients.consumer("b:9092", cfg.clientProperties(), true);
        assertEquals("SASL_SSL", c.get("security.protocol"));
        assertEquals("b:9092", c.get("bootstrap.servers"));
        assertEquals("read_committed", c.get("isolation.level"), "a reader of committed data stays one");
        assertEquals("false", c.get("enable.auto.commit"));
        Properties p = KafkaClients.producer("b:9092", cfg.clientProperties());
        assertEquals("SASL_SSL", p.get("security.protocol"));
        assertEquals("all", p.get("acks"));
        assertEquals("true", p.get("enable.idempotence"));
    }
}
