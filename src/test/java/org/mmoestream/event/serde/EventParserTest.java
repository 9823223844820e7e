package org.mmoestream.event.serde;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.mmoestream.event.DeadLetter;
import org.mmoestream.event.Event;

class EventParserTest {
    private static final long NOW = 1_764_000_000_000L;
    private final EventParser parser = new EventParser(1024, 86_400_000L);

    private Event parse(byte type, String json) throws EventParser.Invalid {
        return parser.parse(type, json.getBytes(StandardCharsets.UTF_8), NOW);
    }

    private void rejects(byte type, String json, String reasonPart) {
        EventParser.Invalid e = assertThrows(EventParser.Invalid.class, () -> parse(type, json));
        assertTrue(e.getMessage().contains(reasonPart), "'" + reasonPart + "' in: " + e.getMessage());
    }

    @Test
    void validEvents() throws Exception {
        Event i = parse(
                Event.IMPRESSION,
                "{\"request_id\":\"r1\",\"ts\":" + NOW + ",\"features\":{\"u\":\"a\",\"p\":1.5,\"t\":[\"x\",\"y\"]}}");
        assertEquals("r1", i.requestId);
        assertEquals("default", i.model);
        assertEquals("{\"u\":\"a\",\"p\":1.5,\"t\":[\"x\",\"y\"]}", i.features);
        assertEquals(
                "c9", parse(Event.CLICK, "{\"request_id\":\"r1\",\"ts\":" + NOW + ",\"click_id\":\"c9\"}").clickId);
        assertEquals(2.5, parse(Event.CONVERSION, "{\"request_id\":\"r1\",\"ts\":" + NOW + ",\"value\":2.5}").value);
    }

    @Test
    void everyProblemHasAReason() {
        rejects(Event.CLICK, "not json", "not valid JSON");
        rejects(Event.CLICK, "[1,2]", "not a JSON object");
        rejects(Event.CLICK, "{\"request_id\":\"r\",\"ts\":" + NOW + "}}}}", "not valid JSON");
        rejects(
                Event.CLICK,
                "{\"request_id\":\"r\",\"ts\":" + NOW + "} {\"request_id\":\"s\",\"ts\":" + NOW + "}",
                "not valid JSON");
        rejects(Event.CLICK, "{\"ts\":" + NOW + "}", "lacks request_id");
        rejects(Event.CLICK, "{\"request_id\":7,\"ts\":" + NOW + "}", "request_id must be a non-empty string");
        rejects(Event.CLICK, "{\"request_id\":\"r\"}", "lacks ts");
        rejects(Event.CLICK, "{\"request_id\":\"r\",\"ts\":\"now\"}", "ts must be an integer");
        rejects(Event.CLICK, "{\"request_id\":\"r\",\"ts\":1764000000}", "before the year 2000");
        rejects(Event.CLICK, "{\"request_id\":\"r\",\"ts\":" + (NOW + 2 * 86_400_000L) + "}", "ahead of the clock");
        rejects(Event.CONVERSION, "{\"request_id\":\"r\",\"ts\":" + NOW + ",\"value\":NaN}", "not valid JSON");
        rejects(
                Event.CONVERSION,
                "{\"request_id\":\"r\",\"ts\":" + NOW + ",\"value\":1e999}",
                "value is not a finite number");
        rejects(
                Event.IMPRESSION,
                "{\"request_id\":\"r\",\"ts\":" + NOW + ",\"features\":{\"u\":{\"a\":1}}}",
                "features.u must be");
        rejects(
                Event.IMPRESSION,
                "{\"request_id\":\"r\",\"ts\":" + NOW + ",\"features\":[1]}",
                "features must be an object");
        rejects(
                Event.IMPRESSION,
                "{\"request_id\":\"r\",\"ts\":" + NOW + ",\"pad\":\"" + "x".repeat(2000) + "\"}",
                "over the limit of 1024");
        assertThrows(EventParser.Invalid.class, () -> parser.parse(Event.CLICK, new byte[] {(byte) 0xff, 0x00}, NOW));
    }

    @org.junit.jupiter.api.Test
    void everyMalformedRecordOfTheSimulatorIsRejectedOnEveryTopic() {
        for (String json : org.mmoestream.simulate.EventWriter.MALFORMED) {
            for (byte type : new byte[] {Event.IMPRESSION, Event.CLICK, Event.CONVERSION}) {
                assertThrows(EventParser.Invalid.class, () -> parse(type, json), json);
            }
        }
    }

    @Test
    void eachRejectionHasAKindTheMetricsCountBy() {
        String[][] cases = {
            {"not json", DeadLetter.NOT_JSON},
            {"[1,2]", DeadLetter.NOT_OBJECT},
            {"{\"ts\":" + NOW + "}", DeadLetter.MISSING_FIELD},
            {"{\"request_id\":7,\"ts\":" + NOW + "}", DeadLetter.BAD_FIELD},
            {"{\"request_id\":\"r\",\"ts\":\"now\"}", DeadLetter.BAD_TIMESTAMP},
            {"{\"request_id\":\"r\",\"ts\":1764000000}", DeadLetter.BAD_TIMESTAMP},
            {"{\"request_id\":\"r\",\"ts\":" + NOW + ",\"features\":{\"u\":{}}}", DeadLetter.BAD_FEATURE},
        };
        for (String[] c : cases) {
            EventParser.Invalid e = assertThrows(EventParser.Invalid.class, () -> parse(Event.IMPRESSION, c[0]));
            assertEquals(c[1], e.kind(), c[0] + ": " + e.getMessage());
        }
        EventParser.Invalid e = assertThrows(EventParser.Invalid.class, () -> parser.parse(Event.CLICK, null, NOW));
        assertEquals(DeadLetter.NULL_VALUE, e.kind());
    }
}
