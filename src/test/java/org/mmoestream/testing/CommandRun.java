package org.mmoestream.testing;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import org.mmoestream.cli.Main;

/** One {@code bin/mmoe} command run in this JVM: its exit status, standard output and error output. */
public record CommandRun(int status, String out, String err) {
    public static CommandRun of(String... args) {
        StringWriter err = new StringWriter();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream stdout = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            int status = Main.execute(new PrintWriter(err, true), args);
            return new CommandRun(status, out.toString(StandardCharsets.UTF_8), err.toString());
        } finally {
            System.setOut(stdout);
        }
    }
}
