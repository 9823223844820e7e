package org.mmoestream.offline;

import java.util.Set;
import java.util.TreeSet;
import org.mmoestream.config.InputException;

/**
 * Selects rows of a file by their 0-based index: {@code FILE#mod4=0,1} keeps rows whose index
 * mod 4 is 0 or 1, so one file can serve as train, validation and test split.
 */
public record RowFilter(int modulus, Set<Integer> residues) {
    public static final RowFilter ALL = new RowFilter(1, Set.of(0));

    public boolean keeps(long index) {
        return residues.contains((int) (index % modulus));
    }

    /** A file argument with its optional selector. */
    public record FileArg(java.nio.file.Path path, RowFilter filter, String text) {}

    /** Parses {@code PATH} or {@code PATH#modN=r1,r2,...}. */
    public static FileArg parse(String arg, String flag) {
        int hash = arg.lastIndexOf("#mod");
        if (hash < 0) {
            return new FileArg(java.nio.file.Path.of(arg), ALL, arg);
        }
        String sel = arg.substring(hash + 4);
        int eq = sel.indexOf('=');
        try {
            int mod = Integer.parseInt(sel.substring(0, eq));
            Set<Integer> res = new TreeSet<>();
            for (String r : sel.substring(eq + 1).split(",")) {
                int v = Integer.parseInt(r.trim());
                if (v < 0 || v >= mod) {
                    throw new NumberFormatException();
                }
                res.add(v);
            }
            if (mod < 1) {
                throw new NumberFormatException();
            }
            return new FileArg(java.nio.file.Path.of(arg.substring(0, hash)), new RowFilter(mod, res), arg);
        } catch (RuntimeException e) {
            throw new InputException(
                    flag + " '" + arg + "' has a bad row selector: write PATH#modN=r1,r2 with 0 <= r < N.");
        }
    }
}
