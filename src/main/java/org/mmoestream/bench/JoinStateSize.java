package org.mmoestream.bench;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.apache.flink.api.common.ExecutionConfig;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.base.StringSerializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.runtime.state.SerializedCompositeKeyBuilder;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.mmoestream.event.Event;
import org.mmoestream.join.AttributionPolicy;
import org.mmoestream.join.JoinListener;
import org.mmoestream.join.JoinState;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.CompressionType;
import org.rocksdb.DBOptions;
import org.rocksdb.FlushOptions;
import org.rocksdb.RocksDB;
import org.rocksdb.WriteBatch;
import org.rocksdb.WriteOptions;

/**
 * The bytes the label join's pending requests take in RocksDB, measured: {@code n} requests are
 * run through the policy (an impression each, and a click for a share of them, as in the window
 * where they wait), and their state and timer entries are written, in the layout of Flink's RocksDB
 * backend (key-group prefix, serialized key and namespace; the state POJO with Flink's serializer),
 * into a RocksDB with Snappy compression, as Flink's defaults; after a flush and a full compaction, the size of its
 * SST files divided by {@code n}.
 */
final class JoinStateSize {
    private JoinStateSize() {}

    /** RocksDB's defaults with Snappy compression, as Flink's column families have. */
    private static ColumnFamilyOptions columnOptions() {
        return new ColumnFamilyOptions().setCompressionType(CompressionType.SNAPPY_COMPRESSION);
    }

    /** SST bytes per pending request of {@code policy} over {@code n} requests. */
    static double bytesPerPendingRequest(AttributionPolicy policy, int n) throws Exception {
        RocksDB.loadLibrary();
        Path dir = Files.createTempDirectory("join-state-size");
        TypeSerializer<JoinState> ser =
                TypeInformation.of(JoinState.class).createSerializer(new ExecutionConfig().getSerializerConfig());
        SerializedCompositeKeyBuilder<String> keys =
                new SerializedCompositeKeyBuilder<>(StringSerializer.INSTANCE, 1, 32);
        DataOutputSerializer value = new DataOutputSerializer(256);
        DataOutputSerializer timer = new DataOutputSerializer(64);
        SplittableRandom rnd = new SplittableRandom(5);
        List<ColumnFamilyDescriptor> cfs = List.of(
                new ColumnFamilyDescriptor(RocksDB.DEFAULT_COLUMN_FAMILY, new ColumnFamilyOptions()),
                new ColumnFamilyDescriptor("join".getBytes(), columnOptions()),
                new ColumnFamilyDescriptor("_timer_state/event_user-timers".getBytes(), columnOptions()));
        List<ColumnFamilyHandle> handles = new java.util.ArrayList<>();
        try (DBOptions options = new DBOptions().setCreateIfMissing(true).setCreateMissingColumnFamilies(true);
                RocksDB db = RocksDB.open(options, dir.toString(), cfs, handles);
                WriteOptions wo = new WriteOptions().setDisableWAL(true);
                WriteBatch batch = new WriteBatch()) {
            long t0 = 1_764_000_000_000L;
            for (int i = 0; i < n; i++) {
                String id = "q" + (10_000_000 + i);
                long ts = t0 + i;
                JoinState s = new JoinState();
                policy.onEvent(
                        s,
                        Event.impression(
                                id,
                                ts,
                                "default",
                                "{\"user\":\"u" + rnd.nextInt(100_000) + "\",\"item\":\"i" + rnd.nextInt(1_000_000)
                                        + "\",\"device\":\"d" + rnd.nextInt(3) + "\",\"price\":" + rnd.nextInt(500)
                                        + "}"),
                        JoinListener.IGNORE,
                        ex -> {});
                if (rnd.nextDouble() < 0.1) {
                    policy.onEvent(
                            s, Event.click(id, ts + 1 + rnd.nextInt(60_000), "c" + i), JoinListener.IGNORE, ex -> {});
                }
                int keyGroup = i & 127;
                keys.setKeyAndKeyGroup(id, keyGroup);
                byte[] key = keys.buildCompositeKeyNamespace(VoidNamespace.INSTANCE, VoidNamespaceSerializer.INSTANCE);
                value.clear();
                ser.serialize(s, value);
                batch.put(handles.get(1), key, value.getCopyOfBuffer());
                timer.clear();
                timer.writeByte(keyGroup);
                timer.writeLong(s.deadline ^ Long.MIN_VALUE);
                StringSerializer.INSTANCE.serialize(id, timer);
                VoidNamespaceSerializer.INSTANCE.serialize(VoidNamespace.INSTANCE, timer);
                batch.put(handles.get(2), timer.getCopyOfBuffer(), new byte[0]);
                if (batch.count() >= 20_000) {
                    db.write(wo, batch);
                    batch.clear();
                }
            }
            db.write(wo, batch);
            try (FlushOptions fo = new FlushOptions().setWaitForFlush(true)) {
                db.flush(fo, handles);
            }
            for (ColumnFamilyHandle h : handles) {
                db.compactRange(h);
            }
            long sst = 0;
            for (ColumnFamilyHandle h : handles) {
                sst += Long.parseLong(db.getProperty(h, "rocksdb.total-sst-files-size"));
            }
            for (ColumnFamilyHandle h : handles) {
                h.close();
            }
            return (double) sst / n;
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
            }
        }
    }
}
