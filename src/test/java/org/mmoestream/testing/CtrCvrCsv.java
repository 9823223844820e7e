package org.mmoestream.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A small labeled CSV file for {@code examples/ctr-cvr.yaml} (user, item, device, price, click,
 * conversion): every other row clicked, every fourth converted (a conversion only after a click).
 */
public final class CtrCvrCsv {
    private CtrCvrCsv() {}

    /** Writes {@code rows} rows to {@code file} and returns it. */
    public static Path write(Path file, int rows) throws IOException {
        StringBuilder b = new StringBuilder("user,item,device,price,click,conversion\n");
        for (int i = 0; i < rows; i++) {
            b.append("u").append(i % 7).append(",i").append(i % 5).append(",d").append(i % 3);
            b.append(',').append(i).append(',').append(i % 2).append(',').append(i % 4 == 0 ? 1 : 0);
            b.append('\n');
        }
        Files.writeString(file, b);
        return file;
    }
}
