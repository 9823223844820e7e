package org.mmoestream.publish;

import java.io.ByteArrayOutputStream;
import java.util.HashMap;
import java.util.Map;

/**
 * Reassembles model versions from their chunks, per model: chunk 0 starts a version, chunks
 * 1..n-1 must follow in order with the same version, and the last one completes it. A chunk that
 * does not follow (its version's start was missed) is dropped until the next chunk 0.
 */
public final class ChunkAssembler {
  private static final class Pending {
    long version = -1;
    int next;
    final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
  }

  private final Map<String, Pending> pending = new HashMap<>();

  /** Adds a chunk; returns the whole snapshot when {@code c} completes it, else null. */
  public byte[] add(ModelChunk c) {
    Pending p = pending.computeIfAbsent(c.model, k -> new Pending());
    if (c.chunk == 0) {
      p.version = c.version;
      p.next = 0;
      p.bytes.reset();
    }
    if (p.version != c.version || p.next != c.chunk) {
      return null;
    }
    p.bytes.writeBytes(c.bytes);
    p.next++;
    if (p.next < c.chunks) {
      return null;
    }
    byte[] snapshot = p.bytes.toByteArray();
    p.next = 0;
    p.version = -1;
    p.bytes.reset();
    return snapshot;
  }
}
