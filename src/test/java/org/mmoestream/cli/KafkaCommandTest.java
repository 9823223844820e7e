package org.mmoestream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code bin/mmoe kafka} creates every topic of both jobs under its default name. */
class KafkaCommandTest {
    @Test
    void everyDefaultTopicIsCreatedTheSingleOnesWithOnePartition() {
        Map<String, Integer> topics = KafkaCommand.defaultTopics(3);
        assertEquals(
                Map.of(
                        "impressions", 3,
                        "clicks", 3,
                        "conversions", 3,
                        "examples", 3,
                        "score-requests", 3,
                        "scores", 3,
                        "dead-letter", 1,
                        "model", 1,
                        "train-sync", 1),
                topics);
    }
}
