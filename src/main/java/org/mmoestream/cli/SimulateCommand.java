package org.mmoestream.cli;

import java.util.Properties;
import java.util.concurrent.Callable;
import org.mmoestream.config.InputException;
import org.mmoestream.model.BinnedAuc;
import org.mmoestream.simulate.EventWriter;
import org.mmoestream.simulate.Simulator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code mmoe simulate}: simulated impressions, clicks and conversions into any Kafka. */
@Command(
        name = "simulate",
        header = "Writes simulated impressions, clicks and conversions into Kafka.",
        mixinStandardHelpOptions = true,
        description = {
            "Writes simulated events (users, items and contexts with hidden click and "
                    + "conversion probabilities) to Kafka,",
            "with a small share of duplicates, malformed records and out-of-order records."
        })
final class SimulateCommand implements Callable<Integer> {
    @Option(names = "--bootstrap", required = true, description = "Kafka bootstrap servers")
    String bootstrap;

    @Option(
            names = "--impressions",
            defaultValue = "100000",
            description = "impressions to write (default: ${DEFAULT-VALUE})")
    long impressions;

    @Option(
            names = "--rate",
            defaultValue = "0",
            description = "impressions per second; 0 = as fast as possible (default: ${DEFAULT-VALUE})")
    double rate;

    @Option(names = "--seed", defaultValue = "7", description = "simulator seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--users", defaultValue = "300", description = "simulated users (default: ${DEFAULT-VALUE})")
    int users;

    @Option(names = "--items", defaultValue = "100", description = "simulated items (default: ${DEFAULT-VALUE})")
    int items;

    @Option(
            names = "--correlation",
            defaultValue = "0.5",
            description = "correlation of the CTR and CVR tasks, -1..1 (default: ${DEFAULT-VALUE})")
    double correlation;

    @Option(
            names = "--models",
            split = ",",
            defaultValue = "default",
            description = "model ids to spread impressions over (default: ${DEFAULT-VALUE})")
    String[] models;

    @Option(
            names = "--duplicates",
            defaultValue = "0.01",
            description = "share of records sent twice (default: ${DEFAULT-VALUE})")
    double duplicates;

    @Option(
            names = "--malformed",
            defaultValue = "0.001",
            description = "malformed records per record, sent to a random event topic (default: ${DEFAULT-VALUE})")
    double malformed;

    @Option(
            names = "--disorder-ms",
            defaultValue = "1000",
            description = "records are sent up to this much event time late (default: ${DEFAULT-VALUE})")
    long disorder;

    @Option(
            names = "--topic-prefix",
            defaultValue = "",
            description = "prefix of the topics impressions, clicks, conversions")
    String prefix;

    @Override
    public Integer call() throws Exception {
        if (impressions < 1 || rate < 0 || users < 1 || items < 1 || Math.abs(correlation) > 1) {
            throw new InputException(
                    "--impressions, --users and --items must be at least 1, --rate >= 0, --correlation in [-1, 1].");
        }
        if (!(duplicates >= 0 && duplicates <= 1 && malformed >= 0 && malformed <= 1) || disorder < 0) {
            throw new InputException("--duplicates and --malformed must be in [0, 1] and --disorder-ms >= 0.");
        }
        Simulator sim = new Simulator(seed, users, items, correlation, models);
        try (EventWriter w = new EventWriter(
                bootstrap, prefix + "impressions", prefix + "clicks", prefix + "conversions", new Properties())) {
            w.withNoise(new EventWriter.Noise(duplicates, malformed, disorder, seed));
            // The oracle: the hidden probabilities as scores, the best AUC any model can reach on these impressions.
            BinnedAuc ctr = new BinnedAuc(10_000);
            BinnedAuc cvr = new BinnedAuc(10_000);
            long n = w.write(
                    sim,
                    impressions,
                    rate,
                    20_000,
                    60_000,
                    (imps, recs) -> System.err.printf("simulate: %,d impressions, %,d records%n", imps, recs),
                    imp -> {
                        ctr.add(imp.pClick(), imp.clicked());
                        if (imp.clicked()) {
                            cvr.add(imp.pConversion(), imp.converted());
                        }
                    });
            System.out.printf(
                    "simulate: wrote %,d records for %,d impressions (%,d duplicates, %,d malformed)%n",
                    n, impressions, w.duplicated(), w.malformed());
            System.out.printf(
                    java.util.Locale.ROOT,
                    "simulate: oracle AUC (true probabilities) ctr %.4f, cvr %.4f (on clicked impressions)%n",
                    ctr.auc(),
                    cvr.auc());
        }
        return 0;
    }
}
