/**
 * Event records of the Kafka topics (DESIGN.md, Events) as Flink POJOs (serialized by Flink's POJO
 * serializer, never Kryo), and in {@code serde} one validating (de)serializer per topic.
 */
package org.mmoestream.event;
