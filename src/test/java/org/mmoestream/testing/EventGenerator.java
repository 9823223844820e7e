package org.mmoestream.testing;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Impressions with clicks and conversions, and the labels they must get: a click counts within
 * {@code clickWindow} of its impression, a conversion within {@code conversionWindow} of a counted
 * click. Each topic's records are out of order by less than one second; about 1% of records are
 * duplicated and 1% malformed (of several kinds); a few clicks are orphans.
 */
public final class EventGenerator {
    /** A record to send. */
    public record Rec(String topic, String key, byte[] value, long sortTs, boolean malformed) {}

    /** Expected labels per request id. */
    public final Map<String, int[]> truth = new HashMap<>();

    public final List<Rec> records = new ArrayList<>();
    public int malformed;
    public int duplicates;
    public int orphanClicks;

    public EventGenerator(int impressions, long base, long clickWindow, long conversionWindow, long seed) {
        Random rnd = new Random(seed);
        for (int i = 0; i < impressions; i++) {
            String id = "r" + i;
            long ts = base + i * 100L + rnd.nextInt(50);
            add(
                    rnd,
                    "impressions",
                    id,
                    ts,
                    "{\"request_id\":\"" + id + "\",\"ts\":" + ts
                            + ",\"model\":\"m1\",\"features\":{\"user\":\"u" + rnd.nextInt(100) + "\",\"price\":"
                            + rnd.nextInt(500)
                            + ",\"tags\":[\"a\",\"b\"]}}");
            int click = 0;
            int conversion = 0;
            if (rnd.nextDouble() < 0.25) {
                long delay = (long) (rnd.nextDouble() * clickWindow * 1.2);
                long cts = ts + delay;
                click = delay <= clickWindow ? 1 : 0;
                add(
                        rnd,
                        "clicks",
                        id,
                        cts,
                        "{\"request_id\":\"" + id + "\",\"ts\":" + cts + ",\"click_id\":\"c" + i + "\"}");
                if (rnd.nextDouble() < 0.3) {
                    long cdelay = (long) (rnd.nextDouble() * conversionWindow * 1.2);
                    long vts = cts + cdelay;
                    conversion = click == 1 && cdelay <= conversionWindow ? 1 : 0;
                    add(
                            rnd,
                            "conversions",
                            id,
                            vts,
                            "{\"request_id\":\"" + id + "\",\"ts\":" + vts + ",\"value\":" + rnd.nextInt(100) + "}");
                }
            } else if (rnd.nextDouble() < 0.01) {
                long vts = ts + rnd.nextInt(1000);
                add(rnd, "conversions", id, vts, "{\"request_id\":\"" + id + "\",\"ts\":" + vts + "}");
            }
            truth.put(id, new int[] {click, conversion});
        }
        for (int i = 0; i < 10; i++) {
            long ts = base + rnd.nextInt(impressions) * 100L;
            orphanClicks++;
            add(rnd, "clicks", "orphan" + i, ts, "{\"request_id\":\"orphan" + i + "\",\"ts\":" + ts + "}");
        }
        int bad = records.size() / 100;
        String[] topics = {"impressions", "clicks", "conversions"};
        for (int i = 0; i < bad; i++) {
            long ts = base + rnd.nextInt(impressions) * 100L;
            String topic = topics[i % 3];
            byte[] v = switch (i % 8) {
                case 0 -> "not json at all".getBytes(StandardCharsets.UTF_8);
                case 1 -> ("{\"ts\":" + ts + "}").getBytes(StandardCharsets.UTF_8);
                case 2 -> "{\"request_id\":\"x\",\"ts\":\"yesterday\"}".getBytes(StandardCharsets.UTF_8);
                case 3 -> "{\"request_id\":\"x\",\"ts\":1700000000}".getBytes(StandardCharsets.UTF_8);
                case 4 -> ("{\"request_id\":\"x\",\"ts\":" + ts + ",\"value\":NaN}").getBytes(StandardCharsets.UTF_8);
                case 5 -> new byte[] {(byte) 0xff, (byte) 0xfe, 0x00, 0x01};
                case 6 ->
                    ("{\"request_id\":\"x\",\"ts\":" + (System.currentTimeMillis() + 3 * 86_400_000L) + "}")
                            .getBytes(StandardCharsets.UTF_8);
                default ->
                    ("{\"request_id\":\"x\",\"ts\":" + ts + ",\"pad\":\"" + "p".repeat(70_000) + "\"}")
                            .getBytes(StandardCharsets.UTF_8);
            };
            malformed++;
            records.add(new Rec(topic, "bad" + i, v, ts + rnd.nextInt(1000), true));
        }
        records.sort(Comparator.comparingLong(Rec::sortTs));
    }

    private void add(Random rnd, String topic, String key, long ts, String json) {
        byte[] v = json.getBytes(StandardCharsets.UTF_8);
        records.add(new Rec(topic, key, v, ts + rnd.nextInt(1000), false));
        if (rnd.nextDouble() < 0.01) {
            duplicates++;
            records.add(new Rec(topic, key, v, ts + rnd.nextInt(1000), false));
        }
    }

    /** Sends every record, in order, and waits for the acknowledgements. */
    public void send(String bootstrap) throws Exception {
        Map<String, Object> cfg = Map.of(
                "bootstrap.servers",
                bootstrap,
                "acks",
                "all",
                "enable.idempotence",
                "true",
                "linger.ms",
                "5",
                "max.request.size",
                String.valueOf(4 * 1024 * 1024));
        try (KafkaProducer<byte[], byte[]> p =
                new KafkaProducer<>(cfg, new ByteArraySerializer(), new ByteArraySerializer())) {
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            for (Rec r : records) {
                acks.add(p.send(new ProducerRecord<>(r.topic(), r.key().getBytes(StandardCharsets.UTF_8), r.value())));
            }
            for (Future<RecordMetadata> f : acks) {
                f.get();
            }
        }
    }
}
