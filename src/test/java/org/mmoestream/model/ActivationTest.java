package org.mmoestream.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mmoestream.config.InputException;
import org.mmoestream.model.codec.SpecJson;
import org.mmoestream.testing.TestSpecs;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * {@code model.activation}: the float32 passes (what training runs) agree with the float64 ones
 * (what {@link GradientCheckTest} checks against finite differences) for each nonlinearity, with
 * dropout, in the logits and in every dense gradient.
 */
class ActivationTest {
    @TempDir
    Path dir;

    @Test
    void float32PassesAgreeWithTheCheckedFloat64Ones() {
        for (Activation act : List.of(Activation.RELU, Activation.TANH, Activation.SIGMOID)) {
            ModelSpec s = TestSpecs.ctrCvr(Variant.MMOE, true, List.of(4));
            ModelSpec spec =
                    s.withArchitecture(s.architecture().withActivation(act).withDropout(0.3));
            assertEquals(spec, SpecJson.read(SpecJson.write(spec)));
            MmoeModel f = MmoeModel.create(spec, 7, DataType.FLOAT);
            MmoeModel d = MmoeModel.create(spec, 7, DataType.DOUBLE);
            Batch b = TestSpecs.batch(spec, 33, 5);
            MmoeModel.Gradients gf = f.gradients(b);
            MmoeModel.Gradients gd = d.gradients(b);
            assertEquals(gd.loss(), gf.loss(), 1e-5 * Math.abs(gd.loss()), act + " loss");
            double max = 0;
            double diff = 0;
            for (int i = 0; i < d.network().gradAccess().length(); i++) {
                double x = d.network().gradAccess().get(i);
                max = Math.max(max, Math.abs(x));
                diff = Math.max(diff, Math.abs(x - f.network().gradAccess().get(i)));
            }
            assertTrue(max > 0 && diff < 1e-4 * max, act + ": gradients differ by " + diff + " of " + max);
        }
    }

    @Test
    void theSpecNamesTheActivation() throws Exception {
        Path f = dir.resolve("spec.yaml");
        String head = "name: a\nfeatures: {sparse: [{name: user, buckets: 5}]}\ntasks: [{name: ctr, label: click}]\n";
        Files.writeString(f, head + "model: {activation: tanh}\n");
        assertEquals(Activation.TANH, SpecLoader.load(f).architecture().activation());
        Files.writeString(f, head + "model: {activation: gelu}\n");
        InputException e = assertThrows(InputException.class, () -> SpecLoader.load(f));
        assertTrue(e.getMessage().contains("model.activation"), e.getMessage());
        Files.writeString(f, head);
        String json = SpecJson.write(SpecLoader.load(f));
        assertTrue(json.contains(",\"activation\":\"RELU\""), json);
        String old = json.replace(",\"activation\":\"RELU\"", "");
        assertEquals(Activation.RELU, SpecJson.read(old).architecture().activation(), "a spec written before: ReLU");
    }
}
