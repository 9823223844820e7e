package org.mmoestream.simulate;

import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Generates impressions with hidden click and conversion probabilities. Each user and item has a
 * latent vector and a bias; pCTR = sigmoid(ctrBase + user bias + item bias + device effect +
 * u . v), and pCVR (given a click) uses a second set of latent directions mixed with the first by
 * {@code correlation} (as in the MMoE paper's synthetic data, where the task correlation is the
 * cosine of the two tasks' weight vectors). A conversion has a value (a basket, skewed: log-normal),
 * exp(2.5 + 0.3 x item's conversion bias + 0.3 log(price / 20) + 0.4 g - 0.08) with g standard
 * normal, so its expectation given the features is exp(2.5 + 0.3 x item's conversion bias + 0.3
 * log(price / 20)) ({@link Impression#expectedValue}); the value's noise comes from its own
 * generator, so the rest of the stream is as before values existed. With {@link
 * #withPositionBias} an impression also has a position (1-10, where a previous ranker placed it: by
 * its relevance, plus an error of that ranker's per item (some items promoted, some buried) and
 * noise) with a click effect of its own, -strength x log(position), independent of relevance;
 * {@link Impression#pClickFree} is its click probability at position 1.
 * Deterministic in the seed.
 */
public final class Simulator {
    /** One impression and what happened to it. */
    public record Impression(
            String requestId,
            String model,
            long ts,
            String featuresJson,
            double pClick,
            double pConversion,
            boolean clicked,
            long clickDelay,
            boolean converted,
            long conversionDelay,
            double value,
            double expectedValue,
            int position,
            double pClickFree) {}

    private final int users;
    private final int items;
    private final double[][] userVec;
    private final double[][] itemVec;
    private final double[] userBias;
    private final double[] itemBias;
    private final double[] userBiasCvr;
    private final double[] itemBiasCvr;
    private final double correlation;
    private final String[] models;
    private final SplittableRandom rnd;
    private final long valueSeed;
    private double positionBias;
    private long next;

    public Simulator(long seed, int users, int items, double correlation, String... models) {
        this.users = users;
        this.items = items;
        this.correlation = correlation;
        this.models = models.length == 0 ? new String[] {"default"} : models;
        SplittableRandom init = new SplittableRandom(seed);
        userVec = latent(init, users, 4);
        itemVec = latent(init, items, 4);
        userBias = gaussian(init, users, 1.0);
        itemBias = gaussian(init, items, 1.0);
        userBiasCvr = gaussian(init, users, 1.0);
        itemBiasCvr = gaussian(init, items, 1.0);
        rnd = new SplittableRandom(seed + 1);
        valueSeed = seed * 0x9E3779B97F4A7C15L + 17;
    }

    /**
     * This simulator with positions: each impression gets a position and a click effect of
     * -{@code strength} x log(position); 0 (the default) leaves the stream exactly as without.
     */
    public Simulator withPositionBias(double strength) {
        this.positionBias = strength;
        return this;
    }

    private static double[][] latent(SplittableRandom r, int n, int d) {
        double[][] v = new double[n][d];
        for (double[] row : v) {
            for (int k = 0; k < d; k++) {
                row[k] = r.nextGaussian() * 0.4;
            }
        }
        return v;
    }

    private static double[] gaussian(SplittableRandom r, int n, double sd) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = r.nextGaussian() * sd;
        }
        return v;
    }

    private static double sigmoid(double z) {
        return 1 / (1 + Math.exp(-z));
    }

    /** The next impression, at event time {@code ts}; click and conversion delays within the given bounds. */
    public Impression next(long ts, long maxClickDelay, long maxConversionDelay) {
        long n = next++;
        int u = (int) Math.min(users - 1, Math.floor(Math.pow(rnd.nextDouble(), 2) * users));
        int i = rnd.nextInt(items);
        int device = rnd.nextInt(3);
        double price = Math.exp(rnd.nextGaussian() + 3);
        double dot = 0;
        for (int k = 0; k < 4; k++) {
            dot += userVec[u][k] * itemVec[i][k];
        }
        double zc = -1.3 + userBias[u] + itemBias[i] + 0.3 * (device - 1) + dot;
        double cvrBias = correlation * (userBias[u] + itemBias[i])
                + Math.sqrt(1 - correlation * correlation) * (userBiasCvr[u] + itemBiasCvr[i]);
        double zv = -1.0 + 1.4 * cvrBias - 0.3 * Math.log(price / 20);
        double pClickFree = sigmoid(zc);
        int position = 0;
        if (positionBias > 0) {
            // A previous ranker's placement: the more relevant (or promoted), the nearer the top.
            SplittableRandom pr = new SplittableRandom(valueSeed + 0x5DEECE66DL * (n + 1));
            double promoted = new SplittableRandom(valueSeed ^ (0x2545F4914F6CDD1DL * (i + 1))).nextGaussian();
            position = 1 + (int) Math.floor(10 * sigmoid(-(zc + 1.3) - 1.5 * promoted + 0.8 * pr.nextGaussian()));
            zc -= positionBias * Math.log(position);
        }
        double pc = sigmoid(zc);
        double pv = sigmoid(zv);
        boolean clicked = rnd.nextDouble() < pc;
        boolean converted = clicked && rnd.nextDouble() < pv;
        String model = models[(int) (n % models.length)];
        double expectedValue = Math.exp(2.5 + 0.3 * itemBiasCvr[i] + 0.3 * Math.log(price / 20));
        double value = converted
                ? expectedValue * Math.exp(0.4 * new SplittableRandom(valueSeed + n).nextGaussian() - 0.08)
                : Double.NaN;
        String features = String.format(
                Locale.ROOT,
                "{\"user\":\"u%d\",\"item\":\"i%d\",\"device\":\"d%d\",\"price\":%.2f%s}",
                u,
                i,
                device,
                price,
                position > 0 ? ",\"position\":\"p" + position + "\"" : "");
        return new Impression(
                "q" + n,
                model,
                ts,
                features,
                pc,
                pv,
                clicked,
                clicked ? (long) (rnd.nextDouble() * maxClickDelay) : -1,
                converted,
                converted ? (long) (rnd.nextDouble() * maxConversionDelay) : -1,
                value,
                expectedValue,
                position,
                pClickFree);
    }

    /** JSON of the impression event. */
    public static String impressionJson(Impression i) {
        return requestJson(i.requestId(), i);
    }

    /**
     * JSON of a score request for the impression's model and features under {@code requestId} (the
     * impression event's fields: request id, ts, model, features).
     */
    public static String requestJson(String requestId, Impression i) {
        return "{\"request_id\":\"" + requestId + "\",\"ts\":" + i.ts() + ",\"model\":\"" + i.model()
                + "\",\"features\":" + i.featuresJson() + "}";
    }

    public static String clickJson(Impression i) {
        return "{\"request_id\":\"" + i.requestId() + "\",\"ts\":" + (i.ts() + i.clickDelay()) + "}";
    }

    public static String conversionJson(Impression i) {
        return "{\"request_id\":\"" + i.requestId() + "\",\"ts\":" + (i.ts() + i.clickDelay() + i.conversionDelay())
                + String.format(Locale.ROOT, ",\"value\":%.2f}", i.value());
    }
}
