package org.mmoestream.publish;

/**
 * One Kafka record of a model version: bytes {@code [chunk * size, ...)} of the snapshot, chunk
 * {@code chunk} of {@code chunks}. A Flink POJO.
 */
public class ModelChunk {
    public String model;
    public long version;
    public String kind;
    public int chunk;
    public int chunks;
    public byte[] bytes;

    public ModelChunk() {}

    /** Splits a snapshot into chunks of at most {@code maxBytes}. */
    public static java.util.List<ModelChunk> split(
            String model, long version, String kind, byte[] snapshot, int maxBytes) {
        int n = Math.max(1, (snapshot.length + maxBytes - 1) / maxBytes);
        java.util.List<ModelChunk> out = new java.util.ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            ModelChunk c = new ModelChunk();
            c.model = model;
            c.version = version;
            c.kind = kind;
            c.chunk = i;
            c.chunks = n;
            c.bytes =
                    java.util.Arrays.copyOfRange(snapshot, i * maxBytes, Math.min(snapshot.length, (i + 1) * maxBytes));
            out.add(c);
        }
        return out;
    }
}
