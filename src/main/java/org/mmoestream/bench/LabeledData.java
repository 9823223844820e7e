package org.mmoestream.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.mmoestream.event.LabeledExample;

/**
 * Labeled examples of the reference shape (26 sparse fields with Zipf-like values, 13 dense) whose
 * labels follow a hidden logistic model of the features, so that a trained model's AUC measures
 * something: click ~ sigmoid(-1.4 + sum of per-value effects), conversion given a click ~
 * sigmoid(-1 + other per-value effects). The same seed gives the same examples.
 */
final class LabeledData {
    private static final int SPARSE = 26;
    private static final int DENSE = 13;

    private LabeledData() {}

    /** The hidden effect of value {@code v} of field {@code f} on task {@code task}: N(0, 1)-like, fixed. */
    private static double effect(int task, int f, long v) {
        long z = v * 0x9E3779B97F4A7C15L + (f + 1) * 0xBF58476D1CE4E5B9L + task * 0x94D049BB133111EBL;
        z = (z ^ (z >>> 31)) * 0xD6E8FEB86659FD93L;
        z ^= z >>> 32;
        // Sum of four uniforms, centred and scaled: close to a standard normal.
        double s = 0;
        for (int i = 0; i < 4; i++) {
            s += ((z >>> (i * 16)) & 0xFFFF) / 65536.0;
        }
        return (s - 2) * Math.sqrt(3);
    }

    /**
     * {@code n} examples of model {@code model}, request ids {@code prefix0..}, impressions 1 ms apart from
     * {@code t0}.
     */
    static List<LabeledExample> generate(String model, String prefix, int n, long seed, long t0) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<LabeledExample> out = new ArrayList<>(n);
        StringBuilder sb = new StringBuilder();
        long[] values = new long[SPARSE];
        for (int i = 0; i < n; i++) {
            sb.setLength(0);
            sb.append('{');
            double click = -1.4;
            double conv = -1.0;
            for (int f = 0; f < SPARSE; f++) {
                long v = (long) Math.min(1e12, Math.floor(Math.pow(1 - rnd.nextDouble(), -5)));
                values[f] = v;
                sb.append("\"c").append(f).append("\":\"").append(v).append("\",");
                click += 0.45 * effect(0, f, v);
                conv += 0.35 * effect(1, f, v);
            }
            for (int d = 0; d < DENSE; d++) {
                double x = rnd.nextGaussian();
                click += d < 3 ? 0.3 * x : 0;
                sb.append("\"i")
                        .append(d)
                        .append("\":")
                        .append(String.format(Locale.ROOT, "%.3f", x))
                        .append(d < DENSE - 1 ? "," : "");
            }
            sb.append('}');
            LabeledExample e = new LabeledExample();
            e.requestId = prefix + i;
            e.model = model;
            e.features = sb.toString();
            e.click = rnd.nextDouble() < sigmoid(click) ? 1 : 0;
            e.conversion = e.click == 1 && rnd.nextDouble() < sigmoid(conv) ? 1 : 0;
            e.impressionTs = t0 + i;
            e.clickTs = e.click == 1 ? e.impressionTs + 1000 : LabeledExample.NONE;
            e.conversionTs = e.conversion == 1 ? e.impressionTs + 5000 : LabeledExample.NONE;
            out.add(e);
        }
        return out;
    }

    private static double sigmoid(double z) {
        return 1 / (1 + Math.exp(-z));
    }
}
