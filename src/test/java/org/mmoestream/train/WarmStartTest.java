package org.mmoestream.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.config.InputException;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.codec.Snapshots;
import org.mmoestream.testing.TestSpecs;
import org.nd4j.linalg.api.buffer.DataType;

/** What a warm start ({@code train.init-from}) refuses to carry over. */
class WarmStartTest {

    /**
     * An elapsed feature's table is hashed for {@code <hours>} without {@code elapsed_by} and for
     * {@code <hours>x<class>} with it: a spec that changes the crossing cannot start from the
     * snapshot's rows under the same name; under another name the table starts afresh.
     */
    @Test
    void aChangedCrossingOfTheElapsedFeatureIsRefused(@TempDir Path dir) throws Exception {
        String[] lines = TestSpecs.elapsedLines(
                "{name: user, buckets: 50}",
                "{name: age, buckets: 50}",
                "{name: elapsed, buckets: 64, dim: 2, bias: true, elapsed: true}");
        ModelSpec hours = TestSpecs.yaml(dir, lines);
        MmoeModel m = MmoeModel.create(hours, 1, DataType.FLOAT);
        Path file = dir.resolve("v1.safetensors");
        Files.write(
                file,
                Snapshots.full(m, new Snapshots.Meta("m", 1, Snapshots.FULL, 0, 10, 1L, "{}"), Snapshots.tablesOf(m)));
        WarmStart from = WarmStart.read(file.toString());
        from.check(hours);
        String crossed = "elapsed_by: {feature: age, bounds: [4, 8]}}";
        lines[5] = lines[5].replace("elapsed: true}", "elapsed: true, " + crossed);
        ModelSpec byAge = TestSpecs.yaml(dir, lines);
        InputException e = assertThrows(InputException.class, () -> from.check(byAge));
        assertEquals(
                "train.init-from: the elapsed feature elapsed is crossed with nothing in " + file + " and with age at "
                        + "[4.0, 8.0] (elapsed_by) in the spec, so the model cannot start from it; give the feature "
                        + "another name to start its table afresh.",
                e.getMessage());
        lines[5] = lines[5].replace("name: elapsed,", "name: elapsed_age,");
        lines[9] = lines[9].replace("{elapsed: 0}", "{elapsed_age: 0}");
        from.check(TestSpecs.yaml(dir, lines));
    }
}
