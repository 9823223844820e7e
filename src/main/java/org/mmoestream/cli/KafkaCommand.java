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

    @Override
    public Integer call() throws Exception {
        EmbeddedKafka kafka = EmbeddedKafka.start(port, dir);
        // The topics of both jobs, with their default names; the broker does not auto-create topics.
        java.util.Map<String, Integer> topics = new java.util.LinkedHashMap<>();
        for (String t : new String[] {"impressions", "clicks", "conversions", "examples", "score-requests", "scores"}) {
            topics.put(t, partitions);
        }
        topics.put("dead-letter", 1);
        topics.put("model", 1);
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
