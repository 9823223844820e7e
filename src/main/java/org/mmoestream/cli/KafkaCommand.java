package org.mmoestream.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.mmoestream.local.EmbeddedKafka;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code mmoe kafka}: the embedded single-node KRaft broker on its own, until Ctrl-C. */
@Command(
        name = "kafka",
        header = "Runs a single-node Kafka broker on 127.0.0.1.",
        mixinStandardHelpOptions = true,
        description =
                "Runs a single-node Kafka broker (KRaft) on 127.0.0.1 for trying the system with any Kafka client.")
final class KafkaCommand implements Callable<Integer> {
    @Option(
            names = "--port",
            defaultValue = "9092",
            description = "listener port on 127.0.0.1 (default: ${DEFAULT-VALUE})")
    int port;

    @Option(
            names = "--dir",
            description = "log directory, kept across runs (default: a temporary one, deleted on exit)")
    Path dir;

    @Option(
            names = "--partitions",
            defaultValue = "2",
            description = "partitions of the event topics it creates (default: ${DEFAULT-VALUE})")
    int partitions;

    /**
     * Every topic of both jobs under its default name (the broker does not auto-create topics):
     * the model, dead-letter and train-sync topics with one partition, the others with {@code
     * partitions}.
     */
    static java.util.Map<String, Integer> defaultTopics(int partitions) {
        java.util.Set<String> single = java.util.Set.of("topics.model", "topics.dead-letter", "topics.train-sync");
        java.util.Map<String, Integer> topics = new java.util.LinkedHashMap<>();
        for (String[] row : org.mmoestream.config.JobConfig.table()) {
            if (row[0].startsWith("topics.")) {
                topics.put(row[1], single.contains(row[0]) ? 1 : partitions);
            }
        }
        return topics;
    }

    @Override
    public Integer call() throws Exception {
        EmbeddedKafka kafka = EmbeddedKafka.start(port, dir);
        java.util.Map<String, Integer> topics = defaultTopics(partitions);
        kafka.createTopics(topics);
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            kafka.close();
            stop.countDown();
        }));
        System.out.println("kafka: listening on " + kafka.bootstrapServers() + ", topics " + topics.keySet()
                + " (Ctrl-C stops it)");
        stop.await();
        return 0;
    }
}
