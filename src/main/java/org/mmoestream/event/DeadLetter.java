package org.mmoestream.event;

/**
 * A record that failed validation, on its way to the dead-letter topic: where it came from, why it
 * was rejected, and the bytes as received.
 */
public class DeadLetter {
    public String sourceTopic;
    public int partition;
    public long offset;
    public String reason;
    public byte[] raw;

    public DeadLetter() {}

    public DeadLetter(String sourceTopic, int partition, long offset, String reason, byte[] raw) {
        this.sourceTopic = sourceTopic;
        this.partition = partition;
        this.offset = offset;
        this.reason = reason;
        this.raw = raw;
    }

    @Override
    public String toString() {
        return sourceTopic + "-" + partition + "@" + offset + ": " + reason;
    }
}
