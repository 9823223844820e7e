package org.mmoestream.publish;

import java.io.ByteArrayOutputStream;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Reassembles model versions from their chunks, per model: chunk 0 starts a version, chunks
 * 1..n-1 must follow in order with the same version, and the last one completes it. A chunk that
 * does not follow (its version's start was missed, or a chunk in between is missing) is dropped
 * until the next chunk 0, and so is a version left incomplete when the next one starts; each such
 * loss is told to the {@code problems} consumer in one sentence.
 */
public final class ChunkAssembler {
    private static final class Pending {
        long version = -1;
        int next;
        int chunks;
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    }

    private final Map<String, Pending> pending = new HashMap<>();

    /** Adds a chunk; returns the whole snapshot when {@code c} completes it, else null. */
    public byte[] add(ModelChunk c) {
        return add(c, problem -> {});
    }

    /** As {@link #add(ModelChunk)}, telling {@code problems} about every chunk or version dropped. */
    public byte[] add(ModelChunk c, Consumer<String> problems) {
        if (c.chunks < 1 || c.chunk < 0 || c.chunk >= c.chunks) {
            problems.accept("chunk " + c.chunk + "/" + c.chunks + " of version " + c.version + " of model '" + c.model
                    + "' is out of range: dropped");
            return null;
        }
        Pending p = pending.computeIfAbsent(c.model, k -> new Pending());
        if (c.chunk == 0) {
            if (p.version >= 0) {
                problems.accept("version " + p.version + " of model '" + c.model + "' was incomplete (" + p.next
                        + " of " + p.chunks + " chunks) when version " + c.version + " began: dropped");
            }
            p.version = c.version;
            p.next = 0;
            p.chunks = c.chunks;
            p.bytes.reset();
        }
        if (p.version != c.version || p.next != c.chunk || p.chunks != c.chunks) {
            problems.accept("chunk " + c.chunk + "/" + c.chunks + " of version " + c.version + " of model '" + c.model
                    + "' does not follow "
                    + (p.version < 0 ? "a chunk 0" : "chunk " + (p.next - 1) + " of version " + p.version)
                    + ": dropped");
            if (p.version >= 0) {
                problems.accept("version " + p.version + " of model '" + c.model + "' is incomplete (" + p.next + " of "
                        + p.chunks + " chunks): dropped");
            }
            reset(p);
            return null;
        }
        p.bytes.writeBytes(c.bytes);
        p.next++;
        if (p.next < c.chunks) {
            return null;
        }
        byte[] snapshot = p.bytes.toByteArray();
        reset(p);
        return snapshot;
    }

    private static void reset(Pending p) {
        p.next = 0;
        p.version = -1;
        p.chunks = 0;
        p.bytes.reset();
    }
}
