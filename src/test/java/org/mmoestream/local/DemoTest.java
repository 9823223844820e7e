package org.mmoestream.local;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.PrintStream;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.mmoestream.config.JobConfig;
import org.mmoestream.config.JobConfig.Key;
import org.mmoestream.model.SpecLoader;

/** The demo's pipeline configuration, without a broker. */
class DemoTest {
    private static JobConfig config(String feedback) {
        Demo.Options o = new Demo.Options(
                1000, 100, 1, Path.of("target"), SpecLoader.load(Path.of("examples/ctr-cvr.yaml")), 1, feedback);
        return new Demo(o, new PrintStream(PrintStream.nullOutputStream())).jobConfig("localhost:9092", null);
    }

    /**
     * {@code demo --feedback fnw-matched} starts the join's sample of conversion delays from the
     * simulator's mean delay to the conversion (clicks uniform over 20 s, conversions over the 60 s
     * after: 10 + 30 s), as the README advises for a job without a checkpoint; other modes refuse the
     * key, so they go without.
     */
    @Test
    void fnwMatchedStartsItsDelaysFromTheSimulatorsMeanDelay() {
        JobConfig matched = config("fnw-matched");
        assertEquals("fnw-matched", matched.string(Key.FEEDBACK));
        assertEquals(40_000, matched.millis(Key.CONVERSION_DELAY_PRIOR));
        assertEquals(0, config("defer").millis(Key.CONVERSION_DELAY_PRIOR));
    }
}
