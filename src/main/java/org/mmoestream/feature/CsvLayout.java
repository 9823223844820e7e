package org.mmoestream.feature;

import java.util.List;

/**
 * How a labeled CSV file is laid out.
 *
 * @param columns the column names of a header-less file, or null when the first line is a header
 * @param delimiter the field separator
 * @param trim whether values are trimmed (the UCI census file separates fields with ", ")
 */
public record CsvLayout(List<String> columns, char delimiter, boolean trim) {
    public CsvLayout {
        columns = columns == null ? null : List.copyOf(columns);
    }

    public static CsvLayout withHeader() {
        return new CsvLayout(null, ',', true);
    }
}
