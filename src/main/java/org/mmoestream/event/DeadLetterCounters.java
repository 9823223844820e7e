package org.mmoestream.event;

import java.util.HashMap;
import java.util.Map;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;

/**
 * The dead-letter metrics of an operator: {@code dead_letters} in its group, and by kind
 * ({@link DeadLetter#kind}) {@code dead_letters} in the group {@code reason}, created on first use.
 */
public final class DeadLetterCounters {
    private final MetricGroup group;
    private final Counter total;
    private final Map<String, Counter> byKind = new HashMap<>();

    public DeadLetterCounters(MetricGroup group) {
        this.group = group;
        this.total = group.counter("dead_letters");
    }

    /** Counts one dead letter of {@code kind}. */
    public void count(String kind) {
        total.inc();
        byKind.computeIfAbsent(kind, k -> group.addGroup("reason", k).counter("dead_letters"))
                .inc();
    }
}
