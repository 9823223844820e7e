package org.mmoestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.config.InputException;
import org.mmoestream.config.JobConfig;
import org.mmoestream.join.Feedback;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.SpecLoader;
import org.mmoestream.model.TaskSpec;
import org.mmoestream.model.Variant;
import org.mmoestream.testing.TestSpecs;

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
        e = assertThrows(
                InputException.class,
                () -> PipelineJob.feedback(JobConfig.of(
                        Map.of("join.feedback", "defer", "join.drop-conversions-without-click", "false"))));
        assertEquals(
                "join.feedback defer needs join.drop-conversions-without-click: true (an early mode trains a "
                        + "conversion only as the positive that follows its click).",
                e.getMessage());
        assertEquals(
                Feedback.WAIT,
                PipelineJob.feedback(JobConfig.of(Map.of("join.drop-conversions-without-click", "false"))));
    }

    /** es-dfm needs a task with both delay heads; delay heads need es-dfm, the only mode that trains them. */
    @Test
    void esDfmAndDelayHeadsGoTogether() {
        assertEquals(
                Feedback.ES_DFM,
                PipelineJob.feedback(
                        JobConfig.of(Map.of("join.feedback", "es-dfm", "join.observation-window", "15 min"))));
        ModelSpec plain = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        ModelSpec heads = plain.withDelayHeads(TaskSpec.CONVERSION);
        PipelineJob.requireDelayHeads(Feedback.ES_DFM, 900_000, heads);
        PipelineJob.requireDelayHeads(Feedback.FNW, 0, plain);
        PipelineJob.requireDelayHeads(Feedback.DEFER, 0, plain);
        InputException e = assertThrows(
                InputException.class, () -> PipelineJob.requireDelayHeads(Feedback.ES_DFM, 900_000, plain));
        assertEquals(
                "join.feedback es-dfm needs model.spec to have, for the click or the conversion, tasks of events "
                        + "<event>_delayed and <event>_real_negative (the delay heads that weight that event's tasks).",
                e.getMessage());
        e = assertThrows(InputException.class, () -> PipelineJob.requireDelayHeads(Feedback.DEFER, 0, heads));
        assertEquals(
                "model.spec has ES-DFM delay heads (tasks of event *_delayed or *_real_negative), which only "
                        + "join.feedback es-dfm and defer at join.observation-window above 0 train, not defer at 0 s.",
                e.getMessage());
    }

    /** defer at a window above 0 needs the delayed head of every task it weights: the click's and the conversion's. */
    @Test
    void deferAtAWindowNeedsTheDelayedHeadOfEachTask() {
        assertEquals(
                Feedback.DEFER,
                PipelineJob.feedback(
                        JobConfig.of(Map.of("join.feedback", "defer", "join.observation-window", "15 min"))));
        ModelSpec plain = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
        PipelineJob.requireDelayHeads(
                Feedback.DEFER,
                900_000,
                plain.withDelayHeads(TaskSpec.CONVERSION).withDelayHeads(TaskSpec.CLICK));
        InputException e = assertThrows(
                InputException.class,
                () -> PipelineJob.requireDelayHeads(
                        Feedback.DEFER, 900_000, plain.withDelayHeads(TaskSpec.CONVERSION)));
        assertEquals(
                "join.feedback defer at join.observation-window above 0 needs model.spec to have a task of event "
                        + "click_delayed (the delayed head that weights task ctr).",
                e.getMessage());
        ModelSpec clickOnly = new ModelSpec(
                plain.name(),
                plain.features(),
                List.of(plain.tasks().get(0)),
                plain.architecture().withEsmm(false),
                plain.optimizer(),
                plain.csv());
        e = assertThrows(
                InputException.class,
                () -> PipelineJob.requireDelayHeads(
                        Feedback.DEFER, 900_000, clickOnly.withDelayHeads(TaskSpec.CONVERSION)));
        assertEquals(
                "model.spec has task conversion_delayed, a delay head of event conversion_delayed, but no task of "
                        + "event conversion for it to weight.",
                e.getMessage());
        ModelSpec masked = TestSpecs.ctrCvr(Variant.MMOE, false, List.of())
                .withDelayHeads(TaskSpec.CONVERSION)
                .withDelayHeads(TaskSpec.CLICK);
        e = assertThrows(InputException.class, () -> PipelineJob.requireDelayHeads(Feedback.DEFER, 900_000, masked));
        assertEquals(
                "join.feedback defer at join.observation-window above 0 needs ESMM for task cvr, which is masked by "
                        + "ctr (its delayed head is over every impression).",
                e.getMessage());
    }

    @Test
    void fnwMatchedNeedsAWindowOfZeroAndEsmmForAMaskedConversionTask() {
        assertEquals(Feedback.FNW_MATCHED, PipelineJob.feedback(JobConfig.of(Map.of("join.feedback", "fnw-matched"))));
        InputException e = assertThrows(
                InputException.class,
                () -> PipelineJob.feedback(
                        JobConfig.of(Map.of("join.feedback", "fnw-matched", "join.observation-window", "15 min"))));
        assertEquals(
                "join.feedback fnw-matched needs join.observation-window: 0 s (it sends every impression as a "
                        + "negative of the click at once).",
                e.getMessage());
        assertEquals(
                Feedback.FNW_MATCHED,
                PipelineJob.feedback(
                        JobConfig.of(Map.of("join.feedback", "fnw-matched", "join.conversion-delay-prior", "8 h"))));
        e = assertThrows(
                InputException.class,
                () -> PipelineJob.feedback(
                        JobConfig.of(Map.of("join.feedback", "defer", "join.conversion-delay-prior", "8 h"))));
        assertEquals(
                "join.conversion-delay-prior is for join.feedback fnw-matched, the only mode that draws conversion "
                        + "delays, not defer.",
                e.getMessage());
        e = assertThrows(
                InputException.class,
                () -> PipelineJob.feedback(JobConfig.of(
                        Map.of("join.feedback", "fnw-matched", "join.conversion-delay-sample", "2000000"))));
        assertEquals("join.conversion-delay-sample 2000000 is above the most a join keeps, 1048576.", e.getMessage());
        PipelineJob.requireDelayHeads(Feedback.FNW_MATCHED, 0, TestSpecs.ctrCvr(Variant.MMOE, true, List.of()));
        ModelSpec masked = TestSpecs.ctrCvr(Variant.MMOE, false, List.of());
        PipelineJob.requireDelayHeads(Feedback.FNW, 0, masked);
        e = assertThrows(InputException.class, () -> PipelineJob.requireDelayHeads(Feedback.FNW_MATCHED, 0, masked));
        assertEquals(
                "join.feedback fnw-matched needs ESMM for task cvr, which is masked by ctr (the conversion's fake "
                        + "negatives are over every impression).",
                e.getMessage());
    }

    /**
     * An elapsed feature trains only under fnw-matched, the one mode whose fake negatives wait as
     * long as its positives; under any other the wait tells the label. It must be a bias feature.
     */
    @Test
    void anElapsedFeatureNeedsFnwMatchedAndTheBiasTower(@TempDir Path dir) throws Exception {
        String[] lines = TestSpecs.elapsedLines(
                "{name: user, buckets: 50}", "{name: elapsed, buckets: 16, dim: 2, bias: true, elapsed: true}");
        ModelSpec spec = TestSpecs.yaml(dir, lines);
        PipelineJob.requireElapsedFeatures(Feedback.FNW_MATCHED, spec);
        PipelineJob.requireElapsedFeatures(Feedback.DEFER, TestSpecs.ctrCvr(Variant.MMOE, true, List.of()));
        InputException e =
                assertThrows(InputException.class, () -> PipelineJob.requireElapsedFeatures(Feedback.DEFER, spec));
        assertEquals(
                "model.spec has the elapsed feature elapsed, which needs join.feedback fnw-matched: under defer the "
                        + "hours an example waits for training tell its label.",
                e.getMessage());
        lines[4] = "    - {name: elapsed, buckets: 16, dim: 2, elapsed: true}";
        lines[8] = "model: {expert_hidden: [8]}";
        e = assertThrows(InputException.class, () -> TestSpecs.yaml(dir, lines));
        assertTrue(e.getMessage().contains("elapsed") && e.getMessage().contains("bias: true"), e.getMessage());
        for (String file : List.of(
                "ctr-cvr-item-age-elapsed.yaml",
                "ctr-cvr-item-age-elapsed-ids.yaml",
                "ctr-cvr-item-age-elapsed-ids-by-age.yaml")) {
            ModelSpec example = SpecLoader.load(Path.of("examples", file));
            PipelineJob.requireElapsedFeatures(Feedback.FNW_MATCHED, example);
            PipelineJob.requireDelayHeads(Feedback.FNW_MATCHED, 0, example);
            assertThrows(InputException.class, () -> PipelineJob.requireElapsedFeatures(Feedback.WAIT, example));
        }
    }

    /**
     * {@code elapsed_by} crosses an elapsed feature's hours with the classes of another feature of
     * the main network; any other use fails at start with one sentence naming the key.
     */
    @Test
    void elapsedByNeedsAnElapsedFeatureAndANumberFeatureOfTheMainNetwork(@TempDir Path dir) throws Exception {
        String[] lines = TestSpecs.elapsedLines(
                "{name: user, buckets: 50}",
                "{name: age, buckets: 50}",
                "{name: position, buckets: 8, bias: true}",
                "{name: elapsed, buckets: 64, dim: 2, bias: true, elapsed: true, elapsed_by: BY}");
        String line = lines[6];
        String line10 = lines[10];
        lines[6] = line.replace("BY", "{feature: age, bounds: [4, 8.5, 32]}");
        ModelSpec spec = TestSpecs.yaml(dir, lines);
        assertEquals(
                List.of(4.0, 8.5, 32.0),
                spec.features().sparse().get(3).elapsedBy().bounds());
        assertEquals("age", spec.features().sparse().get(3).elapsedBy().feature());
        assertEquals(null, spec.features().sparse().get(1).elapsedBy());
        java.util.Map<String, String> refused = new java.util.LinkedHashMap<>();
        refused.put(
                "{feature: agee, bounds: [4]}",
                "features.sparse[3].elapsed_by.feature names no feature of the spec: 'agee'");
        refused.put(
                "{feature: position, bounds: [4]}",
                "features.sparse[3].elapsed_by.feature names 'position', "
                        + "which is not a single-valued feature of the main network");
        refused.put(
                "{feature: age, bounds: [8, 4]}",
                "features.sparse[3].elapsed_by.bounds[1] must be above the number before it, got '4'");
        refused.put("{feature: age, bounds: []}", "features.sparse[3].elapsed_by.bounds must list at least one number");
        refused.put(
                "{feature: age, bounds: [4, old]}",
                "features.sparse[3].elapsed_by.bounds[1] must be a number, got 'old'");
        refused.put("{feature: age}", "features.sparse[3].elapsed_by.bounds is required");
        refused.put("{feature: age, bounds: [4], by: 1}", "unknown key features.sparse[3].elapsed_by.by");
        InputException e;
        for (var r : refused.entrySet()) {
            lines[6] = line.replace("BY", r.getKey());
            e = assertThrows(InputException.class, () -> TestSpecs.yaml(dir, lines), r.getKey());
            assertTrue(e.getMessage().contains(r.getValue()), e.getMessage());
        }
        lines[6] = line.replace("BY", "{feature: age, bounds: [4]}");
        for (String v : List.of("-1", "1.5", "first")) {
            lines[10] = "model: {expert_hidden: [8], bias_tasks: [cvr], bias_serving: {elapsed: " + v + "}}";
            e = assertThrows(InputException.class, () -> TestSpecs.yaml(dir, lines), v);
            assertTrue(
                    e.getMessage()
                            .contains("model.bias_serving gives the elapsed feature elapsed '" + v
                                    + "', which is not a whole number of hours >= 0"),
                    e.getMessage());
        }
        lines[10] = "model: {expert_hidden: [8], bias_tasks: [cvr], bias_serving: {elapsed: 2.0}}";
        assertEquals(
                "2",
                TestSpecs.yaml(dir, lines).architecture().biasTower().serving().get("elapsed"));
        lines[10] = line10;
        lines[6] = line.replace(", elapsed: true", "").replace("BY", "{feature: age, bounds: [4]}");
        e = assertThrows(InputException.class, () -> TestSpecs.yaml(dir, lines));
        assertTrue(
                e.getMessage().contains("features.sparse[3].elapsed_by needs an elapsed feature (elapsed: true)"),
                e.getMessage());
    }
}
