package org.mmoestream.replay;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.function.LongConsumer;
import org.mmoestream.config.InputException;
import org.mmoestream.feature.FeatureSpec;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.TaskSpec;
import org.mmoestream.offline.CsvExamples;
import org.mmoestream.offline.RowFilter;
import org.mmoestream.simulate.EventWriter;

/**
 * A labeled CSV file as events: row {@code i} (0-based among the selected rows) becomes an
 * impression at {@code start + i * interval} carrying the row's feature cells, a click {@code
 * clickDelay} later when the row's click label is 1, and a conversion {@code conversionDelay} after
 * the click when its conversion label is 1. Which columns are the click and the conversion label
 * comes from the spec: the tasks whose {@code event} is {@code click} and {@code conversion}.
 *
 * <p>Request ids are {@code prefix} + the row's 1-based number, zero-padded to ten digits, so they
 * sort in file order. Rows are validated and encoded as {@code train-file} does: a bad cell stops the
 * replay with the same sentence (file, row, column); {@link #count} checks a whole file before any
 * of it is sent.
 */
public final class CsvReplay {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Event times: first impression, spacing of impressions, click and conversion delays (ms). */
    public record Timing(long start, long interval, long clickDelay, long conversionDelay) {
        public Timing {
            if (interval < 0 || clickDelay < 0 || conversionDelay < 0) {
                throw new InputException("the replay's interval and delays must not be negative.");
            }
        }

        /** Event time of the last event of {@code rows} rows, relative to {@code start}. */
        public long span(long rows) {
            return Math.max(0, rows - 1) * interval + clickDelay + conversionDelay;
        }
    }

    /** What a replay wrote. */
    public record Summary(long rows, long clicks, long conversions) {
        public long records() {
            return rows + clicks + conversions;
        }
    }

    private final ModelSpec spec;
    private final CsvExamples reader;
    private final int clickTask;
    private final int conversionTask;

    public CsvReplay(ModelSpec spec) {
        this.spec = spec;
        this.reader = new CsvExamples(spec);
        this.clickTask = taskOf(spec, TaskSpec.CLICK);
        this.conversionTask = taskOf(spec, TaskSpec.CONVERSION);
        if (clickTask < 0 && conversionTask < 0) {
            throw new InputException("spec '" + spec.name() + "': no task takes the click or conversion label "
                    + "(set tasks[].event to click or conversion on the tasks whose columns hold them).");
        }
    }

    private static int taskOf(ModelSpec spec, String event) {
        for (int t = 0; t < spec.tasks().size(); t++) {
            if (event.equals(spec.tasks().get(t).event())) {
                return t;
            }
        }
        return -1;
    }

    /** The request id of 1-based row {@code row}. */
    public static String requestId(String prefix, long row) {
        return prefix + String.format(Locale.ROOT, "%010d", row);
    }

    /** Validates every selected row and returns how many there are. */
    public long count(Path file, RowFilter filter) {
        return reader.scan(file, filter, false, r -> {});
    }

    /**
     * Writes the selected rows of {@code file} as events for {@code model} through {@code out} (which
     * the caller finishes and closes); {@code progress} hears the rows written every 10,000 rows.
     */
    public Summary write(
            Path file,
            RowFilter filter,
            Timing timing,
            String model,
            String prefix,
            EventWriter out,
            LongConsumer progress) {
        long[] n = new long[3];
        FeatureSpec fs = spec.features();
        java.util.Set<String> dense = new java.util.HashSet<>();
        fs.dense().forEach(d -> dense.add(d.column()));
        reader.scan(file, filter, true, row -> {
            long i = n[0]++;
            long ts = timing.start() + i * timing.interval();
            String id = requestId(prefix, row.number());
            ObjectNode imp = JSON.createObjectNode();
            imp.put("request_id", id);
            imp.put("ts", ts);
            imp.put("model", model);
            imp.set("features", features(row, dense));
            out.send(ts, EventWriter.Topic.IMPRESSIONS, id, imp.toString());
            float[] labels = row.example().labels();
            boolean clicked = clickTask >= 0 && labels[clickTask] == 1f;
            long clickTs = ts + timing.clickDelay();
            if (clicked) {
                n[1]++;
                out.schedule(
                        clickTs,
                        EventWriter.Topic.CLICKS,
                        id,
                        "{\"request_id\":\"" + id + "\",\"ts\":" + clickTs + "}");
            }
            if (conversionTask >= 0 && labels[conversionTask] == 1f) {
                n[2]++;
                long convTs = clickTs + timing.conversionDelay();
                out.schedule(
                        convTs,
                        EventWriter.Topic.CONVERSIONS,
                        id,
                        "{\"request_id\":\"" + id + "\",\"ts\":" + convTs + "}");
            }
            if (progress != null && n[0] % 10_000 == 0) {
                progress.accept(n[0]);
            }
        });
        return new Summary(n[0], n[1], n[2]);
    }

    /** The impression features of {@code row}: its feature cells, those of {@code dense} columns as numbers. */
    public static ObjectNode features(CsvExamples.Row row, java.util.Set<String> dense) {
        ObjectNode features = JSON.createObjectNode();
        for (Map.Entry<String, String> c : row.featureCells().entrySet()) {
            putFeature(features, c.getKey(), c.getValue(), dense.contains(c.getKey()));
        }
        return features;
    }

    /** A sparse cell stays text (hashed as is); a dense cell becomes a JSON number, an empty one is left out. */
    private static void putFeature(ObjectNode features, String column, String cell, boolean isDense) {
        if (!isDense) {
            features.put(column, cell);
            return;
        }
        if (cell.isEmpty()) {
            return;
        }
        double v = Double.parseDouble(cell);
        if (Double.isFinite(v)) {
            features.put(column, v);
        } else {
            features.put(column, cell);
        }
    }
}
