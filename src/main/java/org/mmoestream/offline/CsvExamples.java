package org.mmoestream.offline;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVParser;
import org.apache.commons.csv.CSVRecord;
import org.mmoestream.config.InputException;
import org.mmoestream.feature.CsvLayout;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.feature.FeatureEncoder;
import org.mmoestream.feature.FeatureSpec;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.TaskSpec;

/**
 * Reads a labeled CSV file (plain or {@code .gz}) laid out as the spec's {@code csv} section says
 * and encodes each selected row. Any bad cell fails the whole read with one sentence naming the
 * file, the row (1-based, data rows) and the column.
 */
public final class CsvExamples {
    private final ModelSpec spec;
    private final FeatureEncoder encoder;

    public CsvExamples(ModelSpec spec) {
        this.spec = spec;
        this.encoder = new FeatureEncoder(spec.features());
    }

    /**
     * A data row: its 1-based number, its encoding, and (when asked for) the raw cells of its feature
     * columns by feature column name, in spec order.
     */
    public record Row(long number, EncodedExample example, Map<String, String> featureCells) {}

    /** Reads every row of {@code file} that {@code filter} keeps. */
    public List<EncodedExample> read(Path file, RowFilter filter) {
        List<EncodedExample> out = new ArrayList<>();
        scan(file, filter, false, r -> out.add(r.example()));
        return out;
    }

    /**
     * Visits every row of {@code file} that {@code filter} keeps, in file order, each validated and
     * encoded as {@link #read} does; {@code cells} also hands over the raw feature cells. Returns the
     * number of rows visited.
     */
    public long scan(Path file, RowFilter filter, boolean cells, java.util.function.Consumer<Row> each) {
        String name = file.toString();
        if (!Files.isRegularFile(file)) {
            throw new InputException(name + ": file not found.");
        }
        CsvLayout layout = spec.csv();
        CSVFormat.Builder fmt = CSVFormat.DEFAULT
                .builder()
                .setDelimiter(layout.delimiter())
                .setTrim(layout.trim())
                .setIgnoreSurroundingSpaces(layout.trim())
                .setIgnoreEmptyLines(true);
        if (layout.columns() == null) {
            fmt.setHeader().setSkipHeaderRecord(true);
        }
        try (Reader reader = open(file);
                CSVParser parser = CSVParser.builder()
                        .setReader(reader)
                        .setFormat(fmt.get())
                        .get()) {
            Map<String, Integer> index = columnIndex(name, layout, parser);
            int[] sparseCol = columns(
                    name,
                    index,
                    spec.features().sparse().stream().map(f -> f.column()).toList());
            int[] denseCol = columns(
                    name,
                    index,
                    spec.features().dense().stream().map(f -> f.column()).toList());
            int[] labelCol = columns(
                    name, index, spec.tasks().stream().map(TaskSpec::label).toList());
            List<String> names = new ArrayList<>(index.keySet());
            long row = 0;
            long visited = 0;
            for (CSVRecord rec : parser) {
                row++;
                if (filter.keeps(row - 1)) {
                    EncodedExample ex = encode(name, row, rec, names, sparseCol, denseCol, labelCol);
                    Map<String, String> raw = null;
                    if (cells) {
                        raw = new java.util.LinkedHashMap<>();
                        for (int c : sparseCol) {
                            raw.put(names.get(c), rec.get(c));
                        }
                        for (int c : denseCol) {
                            raw.put(names.get(c), rec.get(c));
                        }
                    }
                    each.accept(new Row(row, ex, raw));
                    visited++;
                }
            }
            if (visited == 0) {
                throw new InputException(name + ": no data rows" + (filter == RowFilter.ALL ? "" : " selected") + ".");
            }
            return visited;
        } catch (IOException | java.io.UncheckedIOException e) {
            throw new InputException(name + ": cannot be read (" + e.getMessage() + ").");
        }
    }

    private static Reader open(Path file) throws IOException {
        InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
        if (file.toString().endsWith(".gz")) {
            in = new GZIPInputStream(in, 1 << 16);
        }
        return new InputStreamReader(in, StandardCharsets.UTF_8);
    }

    private static Map<String, Integer> columnIndex(String name, CsvLayout layout, CSVParser parser) {
        Map<String, Integer> index = new java.util.LinkedHashMap<>();
        List<String> cols = layout.columns() != null ? layout.columns() : parser.getHeaderNames();
        if (cols == null || cols.isEmpty()) {
            throw new InputException(name + ": the file has no header and the spec names no csv.columns.");
        }
        for (int i = 0; i < cols.size(); i++) {
            index.put(cols.get(i), i);
        }
        return index;
    }

    private static int[] columns(String name, Map<String, Integer> index, List<String> wanted) {
        int[] out = new int[wanted.size()];
        for (int i = 0; i < out.length; i++) {
            Integer c = index.get(wanted.get(i));
            if (c == null) {
                throw new InputException(
                        name + " row 0 (header), column '" + wanted.get(i) + "': no such column in the file.");
            }
            out[i] = c;
        }
        return out;
    }

    private EncodedExample encode(
            String file, long row, CSVRecord rec, List<String> names, int[] sparseCol, int[] denseCol, int[] labelCol) {
        FeatureSpec fs = spec.features();
        int[][] ids = new int[sparseCol.length][];
        for (int f = 0; f < ids.length; f++) {
            String v = cell(file, row, rec, names, sparseCol[f]);
            try {
                ids[f] = encoder.sparse(f, v);
            } catch (IllegalArgumentException e) {
                throw bad(file, row, names.get(sparseCol[f]), e.getMessage());
            }
        }
        double[] dense = new double[denseCol.length];
        for (int f = 0; f < dense.length; f++) {
            String v = cell(file, row, rec, names, denseCol[f]);
            try {
                dense[f] = encoder.dense(f, v);
            } catch (IllegalArgumentException e) {
                throw bad(
                        file,
                        row,
                        names.get(denseCol[f]),
                        "dense feature '" + fs.dense().get(f).name() + "' " + e.getMessage());
            }
        }
        float[] labels = new float[labelCol.length];
        for (int t = 0; t < labels.length; t++) {
            String v = cell(file, row, rec, names, labelCol[t]);
            labels[t] = label(spec.tasks().get(t), v, file, row, names.get(labelCol[t]));
        }
        return new EncodedExample(ids, dense, labels);
    }

    private static String cell(String file, long row, CSVRecord rec, List<String> names, int col) {
        if (col >= rec.size()) {
            throw bad(file, row, names.get(col), "missing, the row has only " + rec.size() + " fields");
        }
        return rec.get(col);
    }

    private static float label(TaskSpec task, String v, String file, long row, String column) {
        if (task.regression()) {
            try {
                double d = Double.parseDouble(v.trim());
                if (Double.isFinite(d)) {
                    return (float) d;
                }
            } catch (NumberFormatException e) {
                // reported below
            }
            throw bad(
                    file,
                    row,
                    column,
                    "label of regression task '" + task.name() + "' must be a number, got '" + v + "'");
        }
        if (!task.positive().isEmpty()) {
            if (task.positive().contains(v)) {
                return 1f;
            }
            if (task.negative().isEmpty() || task.negative().contains(v)) {
                return 0f;
            }
            throw bad(
                    file,
                    row,
                    column,
                    "label of task '" + task.name() + "' is '" + v
                            + "', which the spec lists neither as positive nor as negative");
        }
        switch (v) {
            case "0", "0.0" -> {
                return 0f;
            }
            case "1", "1.0" -> {
                return 1f;
            }
            default ->
                throw bad(file, row, column, "label of task '" + task.name() + "' must be 0 or 1, got '" + v + "'");
        }
    }

    private static InputException bad(String file, long row, String column, String problem) {
        return new InputException(file + " row " + row + ", column '" + column + "': " + problem + ".");
    }
}
