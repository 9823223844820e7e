/**
 * The bytes of the topics: {@link org.mmoestream.event.serde.EventParser} validates one JSON event
 * (every rejection a one-sentence reason for the dead-letter topic), the Kafka deserializers wrap
 * it, and {@link org.mmoestream.event.serde.JsonRecords} and {@link
 * org.mmoestream.event.serde.RecordSerializers} write the records the jobs produce, through Jackson.
 */
package org.mmoestream.event.serde;
