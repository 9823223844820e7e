package org.mmoestream.job;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.mmoestream.config.InputException;
import org.mmoestream.config.JobConfig;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.Variant;
import org.mmoestream.testing.TestSpecs;

/** What {@code train.parallelism} > 1 refuses at start, each with one sentence naming the setting. */
class ParallelTrainingRulesTest {
    private static final JobConfig PARALLEL = JobConfig.of(Map.of("train.parallelism", "2", "train.order", "arrival"));

    @Test
    void batchNormalizationIsRefused() {
        ModelSpec s = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        PipelineJob.requireParallelTraining(PARALLEL, s);
        ModelSpec bn = s.withArchitecture(s.architecture().withBatchNorm(true));
        InputException e = assertThrows(InputException.class, () -> PipelineJob.requireParallelTraining(PARALLEL, bn));
        assertTrue(
                e.getMessage().contains("model.batch_norm") && e.getMessage().contains("train.parallelism"),
                e.getMessage());
    }

    @Test
    void eventTimeOrderIsRefused() {
        JobConfig cfg = JobConfig.of(Map.of("train.parallelism", "2", "train.order", "event-time"));
        InputException e = assertThrows(
                InputException.class,
                () -> PipelineJob.requireParallelTraining(cfg, TestSpecs.ctrCvr(Variant.MMOE, true, List.of())));
        assertTrue(e.getMessage().contains("train.order"), e.getMessage());
    }

    @Test
    void syncTopicOfItsOwnIsRequired() {
        ModelSpec s = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        JobConfig cfg =
                JobConfig.of(Map.of("train.parallelism", "2", "topics.train-sync", "model", "topics.model", "model"));
        InputException e = assertThrows(InputException.class, () -> PipelineJob.requireParallelTraining(cfg, s));
        assertTrue(
                e.getMessage().contains("topics.train-sync") && e.getMessage().contains("topics.model"),
                e.getMessage());
    }

    @Test
    void syncIntervalShorterThanTheReplicasWaitIsRequired() {
        ModelSpec s = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        PipelineJob.requireParallelTraining(
                JobConfig.of(Map.of("train.parallelism", "2", "train.sync-interval", "1 min")), s);
        JobConfig cfg = JobConfig.of(Map.of("train.parallelism", "2", "train.sync-interval", "2 min"));
        InputException e = assertThrows(InputException.class, () -> PipelineJob.requireParallelTraining(cfg, s));
        assertTrue(e.getMessage().contains("train.sync-interval"), e.getMessage());
    }

    @Test
    void moreReplicasThanTheMaximumParallelismAreRefused() {
        ModelSpec s = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        PipelineJob.requireParallelTraining(JobConfig.of(Map.of("train.parallelism", "1024")), s);
        JobConfig cfg = JobConfig.of(Map.of("train.parallelism", "1025"));
        InputException e = assertThrows(InputException.class, () -> PipelineJob.requireParallelTraining(cfg, s));
        assertTrue(e.getMessage().contains("1024"), e.getMessage());
    }

    @Test
    void threadsAreRefusedWithBatchNormalizationAndAboveTheMaximum() {
        ModelSpec s = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        JobConfig two = JobConfig.of(Map.of("train.threads", "2"));
        org.junit.jupiter.api.Assertions.assertEquals(2, PipelineJob.threads(two, s));
        ModelSpec bn = s.withArchitecture(s.architecture().withBatchNorm(true));
        org.junit.jupiter.api.Assertions.assertEquals(1, PipelineJob.threads(JobConfig.of(Map.of()), bn));
        InputException e = assertThrows(InputException.class, () -> PipelineJob.threads(two, bn));
        assertTrue(
                e.getMessage().contains("model.batch_norm") && e.getMessage().contains("train.threads"),
                e.getMessage());
        InputException many = assertThrows(
                InputException.class, () -> PipelineJob.threads(JobConfig.of(Map.of("train.threads", "65")), s));
        assertTrue(many.getMessage().contains("train.threads 65"), many.getMessage());
        assertThrows(InputException.class, () -> JobConfig.of(Map.of("train.threads", "0")));
    }

    @Test
    void aGradientDensityOutsideZeroToOneIsRefusedNamingTheKey() {
        org.junit.jupiter.api.Assertions.assertEquals(
                0.05, JobConfig.of(Map.of("train.gradient-density", "0.05")).number(JobConfig.Key.GRADIENT_DENSITY));
        org.junit.jupiter.api.Assertions.assertEquals(
                1.0, JobConfig.of(Map.of()).number(JobConfig.Key.GRADIENT_DENSITY));
        for (String bad : List.of("0", "1.5", "-0.1", "NaN", "dense")) {
            InputException e =
                    assertThrows(InputException.class, () -> JobConfig.of(Map.of("train.gradient-density", bad)));
            assertTrue(e.getMessage().contains("train.gradient-density"), e.getMessage());
        }
    }
}
