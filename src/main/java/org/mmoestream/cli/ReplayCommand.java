package org.mmoestream.cli;

import java.nio.file.Path;
import java.util.Properties;
import java.util.concurrent.Callable;
import org.mmoestream.config.InputException;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.SpecLoader;
import org.mmoestream.offline.RowFilter;
import org.mmoestream.replay.CsvReplay;
import org.mmoestream.simulate.EventWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code mmoe replay}: a labeled CSV file as impression, click and conversion events. */
@Command(
        name = "replay",
        header = "Writes a labeled CSV file into Kafka as impressions, clicks and conversions.",
        mixinStandardHelpOptions = true,
        description = {
            "Writes a labeled CSV file to Kafka as impression, click and conversion events, in file order:",
            "row i is an impression at START + i x INTERVAL with the row's feature columns, followed by a click",
            "when its click label is 1 and a conversion when its conversion label is 1 (the spec's tasks with",
            "event click / conversion name the columns). The whole file is validated before anything is sent.",
            "Train on it in file order with train.order: event-time and `pipeline --bounded`."
        })
final class ReplayCommand implements Callable<Integer> {
    @Option(names = "--bootstrap", required = true, description = "Kafka bootstrap servers")
    String bootstrap;

    @Option(names = "--spec", required = true, description = "model spec (YAML) naming the file's columns")
    Path spec;

    @Option(names = "--csv", required = true, description = "labeled CSV (.csv or .csv.gz), optionally FILE#modN=r,...")
    String csv;

    @Option(
            names = "--model",
            defaultValue = "default",
            description = "model id of the impressions (default: ${DEFAULT-VALUE})")
    String model;

    @Option(
            names = "--interval-ms",
            defaultValue = "10",
            description = "event time between impressions (default: ${DEFAULT-VALUE})")
    long interval;

    @Option(
            names = "--click-delay-ms",
            defaultValue = "1000",
            description = "event time from impression to click (default: ${DEFAULT-VALUE})")
    long clickDelay;

    @Option(
            names = "--conversion-delay-ms",
            defaultValue = "10000",
            description = "event time from click to conversion (default: ${DEFAULT-VALUE})")
    long conversionDelay;

    @Option(
            names = "--start-ms",
            description = "event time of the first impression, epoch ms (default: so that the last event is now)")
    Long start;

    @Option(names = "--request-prefix", description = "prefix of the request ids (default: the file name and a dash)")
    String requestPrefix;

    @Option(
            names = "--topic-prefix",
            defaultValue = "",
            description = "prefix of the topics impressions, clicks, conversions")
    String topicPrefix;

    @Override
    public Integer call() throws Exception {
        ModelSpec s = SpecLoader.load(spec);
        RowFilter.FileArg file = RowFilter.parse(csv, "--csv");
        CsvReplay replay = new CsvReplay(s);
        CsvReplay.Timing probe = new CsvReplay.Timing(0, interval, clickDelay, conversionDelay);
        long rows = replay.count(file.path(), file.filter());
        long first = start != null ? start : System.currentTimeMillis() - probe.span(rows);
        if (first < 946_684_800_000L) {
            throw new InputException(
                    "--start-ms must be after 2000-01-01 (the pipeline rejects older events), got " + first + ".");
        }
        String prefix = requestPrefix != null ? requestPrefix : baseName(file.path()) + "-";
        CsvReplay.Timing timing = new CsvReplay.Timing(first, interval, clickDelay, conversionDelay);
        System.err.printf(
                "replay: %,d rows of %s as model '%s', event time %d..%d%n",
                rows, file.path(), model, first, first + timing.span(rows));
        try (EventWriter w = new EventWriter(
                bootstrap,
                topicPrefix + "impressions",
                topicPrefix + "clicks",
                topicPrefix + "conversions",
                new Properties())) {
            CsvReplay.Summary sum = replay.write(
                    file.path(),
                    file.filter(),
                    timing,
                    model,
                    prefix,
                    w,
                    n -> System.err.printf("replay: %,d / %,d rows%n", n, rows));
            w.finish(false);
            System.out.printf(
                    "replay: wrote %,d records: %,d impressions, %,d clicks, %,d conversions%n",
                    sum.records(), sum.rows(), sum.clicks(), sum.conversions());
        }
        return 0;
    }

    private static String baseName(Path p) {
        String n = p.getFileName().toString();
        for (String ext : new String[] {".gz", ".csv"}) {
            if (n.endsWith(ext)) {
                n = n.substring(0, n.length() - ext.length());
            }
        }
        return n;
    }
}
