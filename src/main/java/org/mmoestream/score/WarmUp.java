package org.mmoestream.score;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.mmoestream.event.Event;
import org.mmoestream.event.ScoreRecord;
import org.mmoestream.event.serde.EventParser;
import org.mmoestream.event.serde.RecordSerializers;
import org.mmoestream.feature.DenseFeature;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.model.ModelSpec;

/**
 * Runs the scoring path (parse, encode, forward pass, score JSON) on synthetic requests of a
 * model's spec until the JIT has compiled it, so that a job's first real requests are not served
 * by interpreted code. Results are thrown away.
 */
final class WarmUp {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Scorer scorer;
    private final String model;
    private final int batchSize;

    WarmUp(Scorer scorer, String model, int batchSize) {
        this.scorer = scorer;
        this.model = model;
        this.batchSize = batchSize;
    }

    /** Scores up to {@code requests} synthetic requests, for at most {@code max}; returns how many. */
    int run(int requests, Duration max) {
        long deadline = System.nanoTime() + max.toNanos();
        EventParser parser = new EventParser(1 << 20, Long.MAX_VALUE / 4);
        RecordSerializers.ScoreValue json = new RecordSerializers.ScoreValue();
        SplittableRandom rnd = new SplittableRandom(1);
        int done = 0;
        int[] sizes = {1, Math.max(1, batchSize / 4), batchSize};
        for (int round = 0; done < requests && System.nanoTime() < deadline; round++) {
            int n = sizes[round % sizes.length];
            try (Scorer.Lease lease = scorer.lease(model)) {
                if (lease == null) {
                    return done;
                }
                List<EncodedExample> rows = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    byte[] bytes = request(lease.spec(), rnd, done + i).getBytes(StandardCharsets.UTF_8);
                    Event e;
                    try {
                        e = parser.parse(Event.IMPRESSION, bytes, System.currentTimeMillis());
                    } catch (EventParser.Invalid ex) {
                        throw new IllegalStateException("a synthetic request is invalid: " + ex.getMessage(), ex);
                    }
                    rows.add(lease.encode(e.features));
                }
                double[][] p = lease.predict(rows);
                ScoreRecord s = new ScoreRecord();
                s.requestId = "warm-up";
                s.model = model;
                s.heads = lease.heads().toArray(new String[0]);
                s.values = new double[p.length];
                for (int h = 0; h < p.length; h++) {
                    s.values[h] = p[h][0];
                }
                json.serialize(s);
            }
            done += n;
        }
        return done;
    }

    /** A request with a value for every feature of the spec. */
    private static String request(ModelSpec spec, SplittableRandom rnd, int i) {
        ObjectNode features = JSON.createObjectNode();
        for (SparseFeature f : spec.features().sparse()) {
            String v = "w" + rnd.nextInt(1000);
            if (f.multi()) {
                features.putArray(f.column()).add(v);
            } else {
                features.put(f.column(), v);
            }
        }
        for (DenseFeature f : spec.features().dense()) {
            features.put(f.column(), rnd.nextInt(100));
        }
        ObjectNode r = JSON.createObjectNode();
        r.put("request_id", "warm-up-" + i);
        r.put("ts", System.currentTimeMillis());
        r.put("model", "warm-up");
        r.set("features", features);
        return r.toString();
    }
}
