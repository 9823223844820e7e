package org.mmoestream.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.time.Duration;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

class EmbeddedKafkaITCase {
    @Test
    void producesAndConsumesOnLoopback() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            kafka.createTopics(Map.of("t", 2));
            try (KafkaProducer<String, String> p = new KafkaProducer<>(
                    Map.of("bootstrap.servers", kafka.bootstrapServers()),
                    new StringSerializer(),
                    new StringSerializer())) {
                for (int i = 0; i < 10; i++) {
                    p.send(new ProducerRecord<>("t", "k" + i, "v" + i)).get();
                }
            }
            try (KafkaConsumer<String, String> c = new KafkaConsumer<>(
                    Map.of(
                            "bootstrap.servers",
                            kafka.bootstrapServers(),
                            "group.id",
                            "g",
                            "auto.offset.reset",
                            "earliest"),
                    new StringDeserializer(),
                    new StringDeserializer())) {
                c.subscribe(List.of("t"));
                int n = 0;
                long deadline = System.currentTimeMillis() + 30_000;
                while (n < 10 && System.currentTimeMillis() < deadline) {
                    ConsumerRecords<String, String> r = c.poll(Duration.ofMillis(500));
                    n += r.count();
                }
                assertEquals(10, n);
            }
            // What the broker says to clients, not the string the class built: its nodes are on
            // loopback, and its port does not answer on any other address of this machine.
            try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
                for (Node node : admin.describeCluster().nodes().get()) {
                    assertEquals("127.0.0.1", node.host(), "advertised host of node " + node.id());
                }
            }
            int port = Integer.parseInt(
                    kafka.bootstrapServers().substring(kafka.bootstrapServers().lastIndexOf(':') + 1));
            for (NetworkInterface ni : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                for (InetAddress a : Collections.list(ni.getInetAddresses())) {
                    if (a.isLoopbackAddress() || a.isLinkLocalAddress()) {
                        continue;
                    }
                    try (Socket socket = new Socket()) {
                        socket.connect(new InetSocketAddress(a, port), 2_000);
                        fail("the broker answers on " + a + ":" + port);
                    } catch (IOException refused) {
                        // expected: bound to loopback only
                    }
                }
            }
        }
    }
}
