package org.mmoestream.testing;

import java.util.Map;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.mmoestream.local.EmbeddedKafka;

/**
 * An embedded KRaft broker for the tests of a class: {@code @RegisterExtension static final
 * KafkaBroker KAFKA = new KafkaBroker();} starts it before the first test and closes it after the last.
 */
public final class KafkaBroker implements BeforeAllCallback, AfterAllCallback {
    private EmbeddedKafka kafka;

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        kafka = EmbeddedKafka.start();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        if (kafka != null) {
            kafka.close();
            kafka = null;
        }
    }

    public String bootstrapServers() {
        return kafka.bootstrapServers();
    }

    /** Creates the topics (name -> partitions) and waits until the broker hosts them. */
    public void createTopics(Map<String, Integer> topics) {
        kafka.createTopics(topics);
    }
}
