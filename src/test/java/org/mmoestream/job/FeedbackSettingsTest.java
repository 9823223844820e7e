package org.mmoestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.mmoestream.config.InputException;
import org.mmoestream.config.JobConfig;
import org.mmoestream.join.Feedback;

/** join.feedback's settings: what it runs with, and one sentence for what it cannot run with. */
class FeedbackSettingsTest {
    @Test
    void earlyFeedbackNeedsArrivalOrderAndAnObservationWindowShorterThanTheClickWindow() {
        assertEquals(Feedback.WAIT, PipelineJob.feedback(JobConfig.defaults()));
        assertEquals(Feedback.FNW, PipelineJob.feedback(JobConfig.of(Map.of("join.feedback", "fnw"))));
        InputException e = assertThrows(
                InputException.class,
                () -> PipelineJob.feedback(JobConfig.of(Map.of("join.feedback", "fnw", "train.order", "event-time"))));
        assertEquals(
                "join.feedback fnw needs train.order: arrival (event-time order holds every example until its windows"
                        + " close).",
                e.getMessage());
        e = assertThrows(
                InputException.class,
                () -> PipelineJob.feedback(JobConfig.of(Map.of(
                        "join.feedback", "fnw", "join.observation-window", "30 min", "join.click-window", "30 min"))));
        assertEquals(
                "join.observation-window 1800000 ms must be shorter than join.click-window 1800000 ms.",
                e.getMessage());
    }
}
