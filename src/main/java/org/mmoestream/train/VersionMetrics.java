package org.mmoestream.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.util.Base64;
import java.util.List;
import org.HdrHistogram.Histogram;
import org.mmoestream.model.GateStatistics;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.SlidingMetrics;

/**
 * The {@code metrics} metadata of a model version (JSON): per head its progressive metrics, the
 * latency from the join's emission to the version of the examples new in the version ({@code
 * freshness_ms}) and from the event time their labels became final ({@code label_age_ms}, queueing
 * before the join included when events are live; HdrHistograms, base64), the mean
 * gate weight of each expert per task over those examples ({@code gates}) with each gate's mean
 * entropy and polarized share ({@code gate_health}), the latest impression event time among the
 * examples the model has trained on ({@code trained_up_to_event_time}; a version trained in arrival
 * order may lack older impressions whose labels came later), and the probe requests' scores.
 */
final class VersionMetrics {
    private static final ObjectMapper JSON = new ObjectMapper();

    private VersionMetrics() {}

    /** p50, p99, count and the whole histogram (compressed, base64) of {@code h} into {@code n}. */
    private static void putHistogram(ObjectNode n, Histogram h) {
        ByteBuffer buf = ByteBuffer.allocate(h.getNeededByteBufferCapacity());
        int len = h.encodeIntoCompressedByteBuffer(buf);
        n.put("p50", h.getValueAtPercentile(50));
        n.put("p99", h.getValueAtPercentile(99));
        n.put("n", h.getTotalCount());
        n.put("histogram", Base64.getEncoder().encodeToString(java.util.Arrays.copyOf(buf.array(), len)));
    }

    static String json(
            ModelSpec spec,
            SlidingMetrics[] metrics,
            Histogram freshness,
            Histogram labelAge,
            GateStatistics gates,
            double[][] probeScores,
            long trainedUpTo,
            String warmStart)
            throws Exception {
        ObjectNode root = JSON.createObjectNode();
        List<String> heads = spec.heads();
        for (int h = 0; h < heads.size(); h++) {
            root.set(heads.get(h), JSON.readTree(metrics[h].json()));
        }
        putHistogram(root.putObject("freshness_ms"), freshness);
        putHistogram(root.putObject("label_age_ms"), labelAge);
        ObjectNode g = root.putObject("gates");
        for (int t = 0; t < spec.tasks().size(); t++) {
            ArrayNode a = g.putArray(spec.tasks().get(t).name());
            for (int e = 0; e < gates.experts(); e++) {
                double w = gates.meanWeight(t, e);
                if (Double.isFinite(w)) {
                    a.add(Math.round(w * 10_000) / 10_000.0);
                } else {
                    a.addNull();
                }
            }
        }
        if (warmStart != null) {
            root.set("warm_start", JSON.readTree(warmStart));
        }
        if (trainedUpTo != Long.MIN_VALUE) {
            root.put("trained_up_to_event_time", trainedUpTo);
        }
        ObjectNode health = root.putObject("gate_health");
        for (int t = 0; t < spec.tasks().size(); t++) {
            ObjectNode h = health.putObject(spec.tasks().get(t).name());
            putRounded(h, "entropy", gates.meanEntropy(t));
            putRounded(h, "polarized_share", gates.polarizedShare(t));
        }
        if (probeScores != null) {
            ArrayNode probes = root.putArray("probe_scores");
            for (int r = 0; r < probeScores[0].length; r++) {
                ArrayNode row = probes.addArray();
                for (double[] head : probeScores) {
                    row.add(head[r]);
                }
            }
        }
        return JSON.writeValueAsString(root);
    }

    private static void putRounded(ObjectNode n, String key, double v) {
        if (Double.isFinite(v)) {
            n.put(key, Math.round(v * 10_000) / 10_000.0);
        } else {
            n.putNull(key);
        }
    }
}
