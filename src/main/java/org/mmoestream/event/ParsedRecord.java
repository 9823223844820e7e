package org.mmoestream.event;

/** What the source emits for one Kafka record: a valid event, or a dead letter (one is null). */
public class ParsedRecord {
    public Event event;
    public DeadLetter deadLetter;

    public ParsedRecord() {}

    public static ParsedRecord ok(Event e) {
        ParsedRecord r = new ParsedRecord();
        r.event = e;
        return r;
    }

    public static ParsedRecord bad(DeadLetter d) {
        ParsedRecord r = new ParsedRecord();
        r.deadLetter = d;
        return r;
    }
}
