package org.mmoestream.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.config.InputException;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.ExampleEncoder;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.SpecLoader;
import org.mmoestream.simulate.DriftingSimulator;

/**
 * {@code bench feedback} on two small simulated days: every mode prints its figures, the examples
 * each mode trains are what its join sends (fnw: every impression once, and again for each click
 * and conversion after it; es-dfm: after its 15-minute window, again for each positive after that,
 * and once closed without a conversion), and the label latency is what each mode waits for.
 */
class FeedbackBenchTest {
    private static final int PER_DAY = 5_000;

    @Test
    void eachModeTrainsWhatItsJoinSendsAfterItsWait() {
        Map<String, Double> f = figures(0, List.of("oracle", "wait", "fnw", "es-dfm"));
        int n = 2 * PER_DAY;
        assertEquals(n, f.get("feedback.impressions"));
        for (String mode : List.of("oracle", "wait", "fnw")) {
            for (String head : List.of("ctr", "cvr", "ctcvr")) {
                double auc = f.get("feedback." + mode + "." + head + ".auc");
                assertTrue(auc > 0 && auc < 1, mode + " " + head + " AUC " + auc);
            }
        }
        for (String head : List.of("ctr", "cvr", "ctcvr")) {
            // The simulator's hidden probabilities rank better than any model trained on two days.
            double truth = f.get("feedback.truth." + head + ".auc");
            double oracle = f.get("feedback.oracle." + head + ".auc");
            assertTrue(truth > oracle, head + ": truth " + truth + ", oracle " + oracle);
        }
        assertEquals(n, f.get("feedback.oracle.examples_trained"));
        assertEquals(n, f.get("feedback.wait.examples_trained"));
        // The simulator's clicks and conversions within the windows (30 min, 24 h) of the same days.
        DriftingSimulator sim = new DriftingSimulator(7, 20_000, 20_000, 1_767_225_600_000L, 2);
        int positives = 0;
        // es-dfm (observation window 15 min): once observed, again for each positive after the window,
        // and once closed when the windows end without a conversion.
        long c = 15 * DriftingSimulator.MINUTE;
        int esDfm = 0;
        for (int k = 0; k < n; k++) {
            DriftingSimulator.Impression im =
                    sim.next(k, 1_767_225_600_000L + (long) ((double) k / n * 2 * DriftingSimulator.DAY));
            boolean click = im.clickTs() >= 0 && im.clickTs() - im.ts() <= 30 * DriftingSimulator.MINUTE;
            boolean conversion =
                    click && im.conversionTs() >= 0 && im.conversionTs() - im.clickTs() <= DriftingSimulator.DAY;
            positives += (click ? 1 : 0) + (conversion ? 1 : 0);
            esDfm += 1 + (click && im.clickTs() > im.ts() + c ? 1 : 0);
            esDfm += conversion ? (im.conversionTs() > im.ts() + c ? 1 : 0) : 1;
        }
        assertTrue(positives > n / 20, positives + " clicks and conversions");
        assertEquals(n + positives, f.get("feedback.fnw.examples_trained"));
        assertEquals(esDfm, f.get("feedback.es-dfm.examples_trained"));
        assertEquals(900, f.get("feedback.es-dfm.label_latency_p99"), "sent when its 15-minute window closes");
        for (String head : List.of("ctr", "cvr", "ctcvr")) {
            double auc = f.get("feedback.es-dfm." + head + ".auc");
            assertTrue(auc > 0.5 && auc < 1, "es-dfm " + head + " AUC " + auc);
        }
        assertEquals(0, f.get("feedback.oracle.label_latency_p99"));
        assertEquals(0, f.get("feedback.fnw.label_latency_p99"), "observation window 0: sent with the impression");
        assertEquals(1800, f.get("feedback.wait.label_latency_p50"), "most impressions wait out the click window");
        assertTrue(f.get("feedback.wait.label_latency_p99") > 80_000, "clicked ones wait out the conversion window");
        assertTrue(f.containsKey("feedback.fnw.cvr.gap_closed"));
        assertTrue(f.get("feedback.conversion_arrivals_hourly_sd") > 0);
        for (String mode : List.of("oracle", "wait", "fnw", "es-dfm")) {
            for (String head : List.of("cvr", "ctcvr")) {
                String p = "feedback." + mode + "." + head + ".truth_ratio_";
                assertTrue(f.get(p + "hourly_sd") > 0, p + "hourly_sd");
                for (String with : List.of("arrivals", "labels")) {
                    double r = f.get(p + with + "_correlation");
                    assertTrue(r >= -1 && r <= 1, p + with + "_correlation " + r);
                }
            }
        }
    }

    /** The spec with the item's age reads the simulator's feature and trains under fnw-matched. */
    @Test
    void theItemAgeSpecTrainsOnTheSimulatorsAge() {
        ModelSpec spec = SpecLoader.load(Path.of("examples/ctr-cvr-item-age.yaml"));
        int age = spec.features().sparse().stream().map(f -> f.name()).toList().indexOf("item_age");
        ExampleEncoder encoder = new ExampleEncoder(spec);
        String young = "{\"user\":\"u1\",\"item\":\"i1\",\"device\":\"d0\",\"price\":9.5,\"item_age\":0}";
        EncodedExample a = encoder.encode(young, 0, 0);
        EncodedExample b = encoder.encode(young.replace("\"item_age\":0", "\"item_age\":30"), 0, 0);
        assertNotEquals(a.sparseIds()[age][0], b.sparseIds()[age][0], "the item's age is a feature of its own");
        assertEquals(a.sparseIds()[0][0], b.sparseIds()[0][0]);
        Map<String, Double> f = figures(0, spec, List.of("fnw-matched"));
        assertEquals(2 * PER_DAY, f.get("feedback.impressions"));
        double auc = f.get("feedback.fnw-matched.ctr.auc");
        assertTrue(auc > 0.5 && auc < 1, "fnw-matched ctr AUC with the item's age " + auc);
    }

    /**
     * The elapsed feature: an example trained an hour or more after its impression carries the whole
     * hours since it (at most 25) as the feature {@code elapsed}, which its encoding holds apart from
     * the 0 of an impression served or trained within the hour. A spec without
     * the feature is refused with the property named, and a run with it trains and serves.
     */
    @Test
    void theElapsedFeatureIsTrainedAndNeverServed(@TempDir Path dir) throws IOException {
        DriftingSimulator.Impression im = new DriftingSimulator(7, 100, 100, FeedbackBench.START, 2)
                .next(0, FeedbackBench.START + DriftingSimulator.DAY);
        long h = DriftingSimulator.HOUR;
        System.setProperty(FeedbackExperiments.ELAPSED_FEATURE, "true");
        try {
            FeedbackExperiments on = FeedbackExperiments.read();
            String served = on.features(im, im.ts());
            assertEquals(im.featuresJson().replace("}", ",\"elapsed\":0}"), served);
            assertEquals(served, on.features(im, im.ts() + h - 1), "within the hour as served");
            String late = on.features(im, im.ts() + 3 * h + 5);
            assertEquals(im.featuresJson().replace("}", ",\"elapsed\":3}"), late);
            assertTrue(on.features(im, im.ts() + 40 * h).endsWith(",\"elapsed\":25}"));
            ModelSpec plain = SpecLoader.load(Path.of("examples/ctr-cvr-item-age.yaml"));
            FeedbackBench bench = new FeedbackBench(0, 2, PER_DAY, 0, 0, new PrintStream(new ByteArrayOutputStream()));
            InputException e = assertThrows(InputException.class, () -> bench.run(plain, List.of("fnw-matched")));
            assertTrue(e.getMessage().contains(FeedbackExperiments.ELAPSED_FEATURE + "=true"), e.getMessage());
            String ageLine = "    - {name: item_age, buckets: 1024, dim: 4}\n";
            String yaml = Files.readString(Path.of("examples/ctr-cvr-item-age.yaml"));
            assertTrue(yaml.contains(ageLine), yaml);
            Path withElapsed = dir.resolve("elapsed.yaml");
            Files.writeString(
                    withElapsed, yaml.replace(ageLine, ageLine + "    - {name: elapsed, buckets: 64, dim: 4}\n"));
            ModelSpec spec = SpecLoader.load(withElapsed);
            ExampleEncoder encoder = new ExampleEncoder(spec);
            int elapsed = spec.features().sparse().size() - 1;
            assertNotEquals(
                    encoder.encode(served, 0, 0).sparseIds()[elapsed][0],
                    encoder.encode(late, 0, 0).sparseIds()[elapsed][0]);
            Map<String, Double> f = figures(0, spec, List.of("fnw-matched"));
            double auc = f.get("feedback.fnw-matched.cvr.auc");
            assertTrue(auc > 0.5 && auc < 1, "fnw-matched cvr AUC with the elapsed feature " + auc);
        } finally {
            System.clearProperty(FeedbackExperiments.ELAPSED_FEATURE);
        }
        assertEquals(im.featuresJson(), FeedbackExperiments.read().features(im, im.ts() + 3 * h), "off");
    }

    /**
     * The conversions arriving per hour are those within their windows (clicked within 30 min,
     * converted within 24 h of the click), counted in the hour of the conversion, not the impression.
     */
    @Test
    void conversionsArriveInTheHourOfTheConversionWithinTheirWindows() {
        long from = 1_767_225_600_000L;
        long h = DriftingSimulator.HOUR;
        long m = DriftingSimulator.MINUTE;
        DriftingSimulator.Impression[] imps = {
            // Converted before the counted hours.
            impression(from - 2 * h, from - 2 * h + m, from - 59 * m),
            // On the boundary of hour 1, and its last millisecond: both hour 1.
            impression(from, from + 10 * m, from + h),
            impression(from - 3 * h, from - 3 * h + m, from + 2 * h - 1),
            // Past the 24 h conversion window, and a click past the 30 min click window: not labels.
            impression(from - 24 * h, from - 24 * h + m, from + m + h / 2),
            impression(from, from + 31 * m, from + 2 * h + m),
            // Clicked, not converted.
            impression(from, from + m, -1),
            // In hour 3.
            impression(from + h, from + h + m, from + 3 * h + 5 * m),
        };
        assertArrayEquals(new double[] {0, 2, 0, 1}, ArrivalNoise.conversionsArriving(imps, from, 4));
    }

    private static DriftingSimulator.Impression impression(long ts, long clickTs, long conversionTs) {
        return DriftingSimulator.Impression.bare(0, ts, 0.1, 0.1, clickTs, conversionTs, 0, 0);
    }

    /** An hour's count over the mean of the hours around it, fewer of them at the ends. */
    @Test
    void overNeighboursIsEachCountOverTheMeanAroundIt() {
        double[] r = ArrivalNoise.overNeighbours(new double[] {10, 10, 20, 10, 30}, 2);
        assertArrayEquals(new double[] {10 / 15.0, 10 / (40 / 3.0), 20 / 15.0, 10 / 20.0, 30 / 15.0}, r, 1e-12);
    }

    /**
     * The hourly truth ratio's correlation with itself an hour later: 1 for a steady trend, -1 for
     * hours that alternate, near 0 for a series whose every value is its own.
     */
    @Test
    void lagOneCorrelationTellsAWanderFromAnHourOfItsOwn() {
        assertEquals(1, ArrivalNoise.lagOneCorrelation(new double[] {0.95, 0.97, 0.99, 1.01, 1.03}), 1e-12);
        assertEquals(-1, ArrivalNoise.lagOneCorrelation(new double[] {0.98, 1.02, 0.98, 1.02, 0.98, 1.02}), 1e-12);
        // (1, 2, 4, 3) against (2, 4, 3, 5): deviations from 2.5 and 3.5 give 2 over sqrt(5 * 5).
        assertEquals(0.4, ArrivalNoise.lagOneCorrelation(new double[] {1, 2, 4, 3, 5}), 1e-12);
        assertEquals(0, ArrivalNoise.lagOneCorrelation(new double[] {1, 1, 0, 0, 1}), 1e-12);
        assertTrue(Double.isNaN(ArrivalNoise.lagOneCorrelation(new double[] {1, 2})));
    }

    /**
     * The serving average ({@code mmoe.bench.feedback.serving-average}) of one step serves the values
     * each step left, as without it; a longer one serves other values and trains the same examples,
     * and the bench prints the event time it spans.
     */
    @Test
    void theServingAverageOfOneStepServesTheTrainedValues() {
        Map<String, Double> plain = assertServesAsTrainedAtTheEdge(FeedbackExperiments.SERVING_AVERAGE, "1");
        Map<String, Double> longer = withProperty(FeedbackExperiments.SERVING_AVERAGE, "100");
        assertTrainsTheSameAndServesOtherConversions(plain, longer);
        // Its span: 100 steps of the event time a step takes, about the 48 h over the steps (of 256 examples).
        double steps = longer.get("feedback.fnw.examples_trained") / 256;
        assertEquals(100 * 48 / steps, longer.get("feedback.fnw.serving_average_hours"), 0.15 * 100 * 48 / steps);
        assertEquals(null, plain.get("feedback.fnw.serving_average_hours"), "printed with a serving average only");
    }

    /**
     * The level filter (docs/fresh-labels-calibration.md) of a time constant of milliseconds lets
     * every move of the model through at once, so it serves the model as trained; a longer one
     * serves other conversion predictions, the same click predictions, and trains the same
     * examples. (Its probe 6 h old, so that it is in place within the 2 days.) So does one whose
     * probe is of the impressions served, and it serves other conversion predictions than the probe
     * of the examples trained.
     */
    @Test
    void aLevelFilterOfNoTimeServesTheModelAsTrained() {
        System.setProperty(FeedbackExperiments.LEVEL_PROBE_AGE, "6");
        try {
            Map<String, Double> plain = assertServesAsTrainedAtTheEdge(FeedbackExperiments.LEVEL_FILTER, "1e-6");
            Map<String, Double> trained = withProperty(FeedbackExperiments.LEVEL_FILTER, "3");
            assertMovesTheConversionHeadOnly(plain, trained);
            System.setProperty(FeedbackExperiments.LEVEL_PROBE, "scored");
            Map<String, Double> scored = withProperty(FeedbackExperiments.LEVEL_FILTER, "3");
            assertMovesTheConversionHeadOnly(plain, scored);
            assertNotEquals(trained.get("feedback.fnw.cvr.logloss"), scored.get("feedback.fnw.cvr.logloss"));
        } finally {
            System.clearProperty(FeedbackExperiments.LEVEL_PROBE_AGE);
            System.clearProperty(FeedbackExperiments.LEVEL_PROBE);
        }
    }

    /** Another seed replays other days of the same world: other impressions, other figures. */
    @Test
    void anotherSeedReplaysOtherDays() {
        Map<String, Double> plain = figures(0, List.of("fnw"));
        Map<String, Double> other = withProperty(FeedbackExperiments.SEED, "8");
        assertNotEquals(plain.get("feedback.truth.cvr.auc"), other.get("feedback.truth.cvr.auc"));
        assertNotEquals(plain.get("feedback.fnw.cvr.logloss"), other.get("feedback.fnw.cvr.logloss"));
    }

    /**
     * The calibration by the model as it is now (docs/fresh-labels-calibration.md) serves other
     * conversion predictions and the same click predictions, and trains the same examples.
     */
    @Test
    void theRescoredCalibrationMovesTheConversionHeadOnly() {
        assertMovesTheConversionHeadOnly(
                figures(0, List.of("fnw")), withProperty(FeedbackExperiments.RESCORED_CALIBRATION, "6"));
    }

    /**
     * The arrivals' normalization (docs/fresh-labels-calibration.md) weighs the conversions that
     * reach training, so the same examples teach the conversion head otherwise.
     */
    @Test
    void theArrivalNormalizationWeighsTheConversionsTrained() {
        assertTrainsTheSameAndServesOtherConversions(
                figures(0, List.of("fnw")), withProperty(FeedbackExperiments.ARRIVAL_NORMALIZED, "6"));
    }

    /**
     * The late oracle trains each impression once with its final labels, as the oracle does, but
     * hours late: at its conversion, or at a delay drawn from the conversions' own.
     */
    @Test
    void theLateOracleTrainsEachImpressionOnceAndLate() {
        System.setProperty(FeedbackExperiments.LATE_ORACLE, "true");
        Map<String, Double> f;
        try {
            f = figures(0, List.of("oracle"));
        } finally {
            System.clearProperty(FeedbackExperiments.LATE_ORACLE);
        }
        assertEquals(null, f.get("feedback.oracle.examples_trained"));
        assertEquals(2 * PER_DAY, f.get("feedback.oracle-late.examples_trained"));
        // Most impressions wait for a drawn conversion delay, hours long (but the first ones, drawn
        // before any conversion has come).
        assertTrue(f.get("feedback.oracle-late.label_latency_p99") > 3600, f.toString());
    }

    /**
     * The figures of {@code fnw} without an experiment, checked equal (but for the wall time) to those
     * with {@code property} at {@code edge}.
     */
    private static Map<String, Double> assertServesAsTrainedAtTheEdge(String property, String edge) {
        Map<String, Double> plain = figures(0, List.of("fnw"));
        Map<String, Double> atEdge = withProperty(property, edge);
        plain.remove("feedback.fnw.seconds");
        atEdge.remove("feedback.fnw.seconds");
        // The span of a serving average, printed with one only.
        atEdge.remove("feedback.fnw.serving_average_hours");
        assertTrue(plain.equals(atEdge), property + "=" + edge + " changed the figures");
        return plain;
    }

    /** {@code other} trained the examples {@code plain} did, and served other conversion predictions. */
    private static void assertTrainsTheSameAndServesOtherConversions(
            Map<String, Double> plain, Map<String, Double> other) {
        assertEquals(plain.get("feedback.fnw.examples_trained"), other.get("feedback.fnw.examples_trained"));
        assertNotEquals(plain.get("feedback.fnw.cvr.logloss"), other.get("feedback.fnw.cvr.logloss"));
    }

    /** As above, and {@code other} served the click predictions {@code plain} did and other ctcvr ones. */
    private static void assertMovesTheConversionHeadOnly(Map<String, Double> plain, Map<String, Double> other) {
        assertTrainsTheSameAndServesOtherConversions(plain, other);
        assertEquals(plain.get("feedback.fnw.ctr.logloss"), other.get("feedback.fnw.ctr.logloss"));
        assertNotEquals(plain.get("feedback.fnw.ctcvr.logloss"), other.get("feedback.fnw.ctcvr.logloss"));
    }

    private static Map<String, Double> withProperty(String property, String value) {
        System.setProperty(property, value);
        try {
            return figures(0, List.of("fnw"));
        } finally {
            System.clearProperty(property);
        }
    }

    /**
     * An experiment property that is not a number, out of its range, or a switch not true or false,
     * is refused at the start.
     */
    @Test
    void aMalformedExperimentPropertyIsRefusedWithItsName() {
        for (String[] bad : new String[][] {
            {FeedbackExperiments.LEVEL_FILTER, "two"},
            {FeedbackExperiments.LEVEL_PROBE_AGE, "-1"},
            {FeedbackExperiments.LEVEL_PROBE, "served"},
            {FeedbackExperiments.SERVING_AVERAGE, "NaN"},
            {FeedbackExperiments.DELAYED_CALIBRATION, "6,3.5"},
            {FeedbackExperiments.DRIFT, ""},
            {FeedbackExperiments.SERVING_AVERAGE, "0.5"},
            {FeedbackExperiments.HOURLY, "yes"},
            {FeedbackExperiments.MATURED_CALIBRATION, "1"},
            {FeedbackExperiments.DELAYED_IDEAL, "on"},
            {FeedbackExperiments.DELAYED_IDEAL_MEMORY, "24,0"},
            {FeedbackExperiments.DELAYED_IDEAL_MEMORY, "241"},
            {FeedbackExperiments.RESCORED_CALIBRATION, "25"},
            {FeedbackExperiments.LATE_ORACLE, "yes"},
            {FeedbackExperiments.ELAPSED_FEATURE, "on"},
            {FeedbackExperiments.SEED, "7.5"},
            {FeedbackExperiments.ARRIVAL_NORMALIZED, "1"},
            {FeedbackExperiments.ITEM_CALIBRATION, "6,0"},
            {FeedbackExperiments.ITEM_CALIBRATION_PRIOR, "20,-1"},
            {FeedbackExperiments.WARMUP, "history"},
            {FeedbackExperiments.DELAY_PRIOR, "-8"}
        }) {
            System.setProperty(bad[0], bad[1]);
            try {
                InputException e = assertThrows(
                        InputException.class,
                        () -> new FeedbackBench(0, 1, PER_DAY, 0, 0, System.out),
                        bad[0] + "=" + bad[1]);
                assertTrue(e.getMessage().contains(bad[0]), e.getMessage());
            } finally {
                System.clearProperty(bad[0]);
            }
        }
        // A feature the spec does not have is refused before the impressions are made.
        System.setProperty(FeedbackExperiments.LEVEL_HELD, "shop");
        try {
            FeedbackBench bench = new FeedbackBench(0, 1, PER_DAY, 0, 0, System.out);
            ModelSpec spec = SpecLoader.load(Path.of("examples/ctr-cvr-item-age.yaml"));
            InputException e = assertThrows(InputException.class, () -> bench.run(spec, List.of("wait")));
            assertTrue(e.getMessage().contains(FeedbackExperiments.LEVEL_HELD + "=shop"), e.getMessage());
        } finally {
            System.clearProperty(FeedbackExperiments.LEVEL_HELD);
        }
    }

    /** Through the pipeline too, a switch not true or false is refused before any mode runs. */
    @Test
    void thePipelineBenchRefusesAMalformedSwitchAtTheStart() {
        System.setProperty(FeedbackExperiments.HOURLY, "yes");
        try {
            InputException e = assertThrows(
                    InputException.class, () -> new FeedbackPipelineBench(0, 1, PER_DAY, 1, 0, 0, System.out));
            assertTrue(e.getMessage().contains(FeedbackExperiments.HOURLY), e.getMessage());
        } finally {
            System.clearProperty(FeedbackExperiments.HOURLY);
        }
    }

    /**
     * Issue 13's bar counted: of the hours after the first that have labels, those whose calibration
     * is outside 0.95-1.05, exactly (the first hour, however far out, and an hour without impressions
     * are not counted; 0.9499 is out though its line reads 0.950).
     */
    @Test
    void theHoursOutsideTheBarAreCountedAfterTheFirst() {
        double[] factors = {2, 1, 1.06, 0.9499, Double.NaN, 1.0499, 0.9501};
        FeedbackMetrics m = new FeedbackMetrics(factors.length);
        long from = 1_767_225_600_000L;
        for (int hour = 0; hour < factors.length; hour++) {
            if (Double.isNaN(factors[hour])) {
                continue;
            }
            // Four impressions: two clicked, one of them converted; served at f times those rates.
            for (int k = 0; k < 4; k++) {
                long ts = from + hour * DriftingSimulator.HOUR + k;
                long click = k < 2 ? ts + 60_000 : -1;
                long conversion = k == 0 ? click + 60_000 : -1;
                DriftingSimulator.Impression im =
                        DriftingSimulator.Impression.bare(k, ts, 0.5, 0.5, click, conversion, 0, k);
                double f = factors[hour];
                m.add(im, from, 0.5 * f, 0.5 * f, 0.25 * f);
            }
        }
        FeedbackMetrics.Result r = m.result(0, 0, 0, false);
        for (int h = 0; h < 3; h++) {
            assertEquals(1.06, r.hourly()[h][2], 1e-9);
            assertArrayEquals(new int[] {2, 5}, FeedbackMetrics.barCount(r.hourly()[h]), "head " + h);
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        FeedbackMetrics.printHeads(new PrintStream(bytes, true, StandardCharsets.UTF_8), "feedback.x", r, false);
        String printed = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains("feedback.x.cvr.calibration_hours_outside_bar 2 count\n"), printed);
        assertTrue(printed.contains("feedback.x.ctcvr.calibration_hours 5 count\n"), printed);
    }

    /** The truth ratio of each half of the items (index even or odd), of which the hour's is the sum. */
    @Test
    void theTruthRatioIsKeptPerHalfOfTheItems() {
        FeedbackMetrics m = new FeedbackMetrics(2);
        long from = 1_767_225_600_000L;
        for (int hour = 0; hour < 2; hour++) {
            for (int item = 0; item < 2; item++) {
                long ts = from + hour * DriftingSimulator.HOUR + item;
                DriftingSimulator.Impression im =
                        DriftingSimulator.Impression.bare(0, ts, 0.2, 0.5, ts + 60_000, -1, 0, item + 2 * hour);
                double ctr = DriftingSimulator.clickedWithin(im, FeedbackBench.CLICK_WINDOW);
                double cvr = DriftingSimulator.convertedWithin(im, FeedbackBench.CONVERSION_WINDOW);
                // The even item's predictions twice its hidden probabilities, the odd item's at them.
                double f = item == 0 ? 2 : 1;
                m.add(im, from, f * ctr, f * cvr, f * ctr * cvr);
            }
        }
        FeedbackMetrics.Result r = m.result(0, 0, 0, false);
        for (int h = 0; h < 3; h++) {
            for (int hour = 0; hour < 2; hour++) {
                assertEquals(2, r.truthRatioHalves()[h][0][hour], 1e-9);
                assertEquals(1, r.truthRatioHalves()[h][1][hour], 1e-9);
                assertEquals(1.5, r.truthRatioHourly()[h][hour], 1e-9);
            }
        }
    }

    /**
     * With warm-up days every mode trains on them unscored and the scored days follow: a model that
     * has run a day scores the next day's first hours calibrated where a cold one has not learned yet
     * (wait's first clicks are final only after the 30-minute click window).
     */
    @Test
    void warmUpDaysTrainEveryModeBeforeTheScoredDays() {
        Map<String, Double> cold = figures(0, List.of("oracle", "wait"));
        Map<String, Double> warm = figures(1, List.of("oracle", "wait"));
        assertEquals(2 * PER_DAY, cold.get("feedback.impressions_scored"));
        assertEquals(3 * PER_DAY, warm.get("feedback.impressions"));
        assertEquals(2 * PER_DAY, warm.get("feedback.impressions_scored"));
        assertEquals(3 * PER_DAY, warm.get("feedback.oracle.examples_trained"), "the warm-up day is trained");
        assertEquals(3 * PER_DAY, warm.get("feedback.wait.examples_trained"));
        double coldCtr = cold.get("feedback.wait.ctr.calibration_hourly_min");
        double warmCtr = warm.get("feedback.wait.ctr.calibration_hourly_min");
        assertTrue(warmCtr > 2 * coldCtr, "wait's lowest hourly ctr calibration " + coldCtr + " cold, " + warmCtr);
    }

    /**
     * A warm-up from a history: the warm-up day's impressions are trained once each, as a log would
     * train them offline, and the join starts with the scored days, so that fnw sends each scored
     * impression once and again for each of its clicks and conversions, and nothing of the warm-up
     * day's; the logged history misses the conversions that come after the switch, the final one has
     * them.
     */
    @Test
    void aHistoryWarmUpTrainsEachLoggedImpressionOnceAndJoinsFromTheSwitch() {
        Map<String, Double> logged = withWarmup("logged");
        Map<String, Double> fin = withWarmup("final");
        DriftingSimulator sim = new DriftingSimulator(7, 20_000, 20_000, FeedbackBench.START, 3);
        int n = 3 * PER_DAY;
        long switchAt = FeedbackBench.START + DriftingSimulator.DAY;
        int positives = 0;
        int lateConversions = 0;
        for (int k = 0; k < n; k++) {
            DriftingSimulator.Impression im =
                    sim.next(k, FeedbackBench.START + (long) ((double) k / n * 3 * DriftingSimulator.DAY));
            boolean click = FeedbackBench.clicked(im);
            boolean conversion = FeedbackBench.converted(im);
            if (im.ts() >= switchAt) {
                positives += (click ? 1 : 0) + (conversion ? 1 : 0);
            } else if (conversion && im.conversionTs() >= switchAt) {
                lateConversions++;
            }
        }
        assertTrue(lateConversions > 0, "conversions of the warm-up day after the switch");
        assertEquals(PER_DAY + 2 * PER_DAY + positives, logged.get("feedback.fnw.examples_trained"));
        assertEquals(PER_DAY + 2 * PER_DAY + positives, fin.get("feedback.fnw.examples_trained"));
        assertNotEquals(logged.get("feedback.fnw.cvr.logloss"), fin.get("feedback.fnw.cvr.logloss"));
        assertEquals(
                figures(1, List.of("oracle")).get("feedback.oracle.ctr.logloss"),
                withWarmup("final", "oracle").get("feedback.oracle.ctr.logloss"),
                "the oracle is trained as it is");
    }

    private static Map<String, Double> withWarmup(String warmup) {
        return withWarmup(warmup, "fnw");
    }

    private static Map<String, Double> withWarmup(String warmup, String mode) {
        System.setProperty(FeedbackExperiments.WARMUP, warmup);
        try {
            return figures(1, List.of(mode));
        } finally {
            System.clearProperty(FeedbackExperiments.WARMUP);
        }
    }

    /** The figures {@code bench feedback} prints for two scored days after {@code warmupDays}. */
    private static Map<String, Double> figures(int warmupDays, List<String> modes) {
        return figures(warmupDays, SpecLoader.load(Path.of("examples/ctr-cvr.yaml")), modes);
    }

    private static Map<String, Double> figures(int warmupDays, ModelSpec spec, List<String> modes) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        new FeedbackBench(
                        warmupDays,
                        2,
                        PER_DAY,
                        0,
                        15 * DriftingSimulator.MINUTE,
                        new PrintStream(buf, true, StandardCharsets.UTF_8))
                .run(spec, modes);
        Map<String, Double> f = new HashMap<>();
        for (String line : buf.toString(StandardCharsets.UTF_8).split("\n")) {
            String[] p = line.trim().split(" ");
            f.put(p[0], Double.parseDouble(p[1]));
        }
        return f;
    }
}
