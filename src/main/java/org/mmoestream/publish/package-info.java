/**
 * Model versions on the Kafka model topic: chunked records with headers, the transactional sink
 * factory, and (no Flink) the reader that follows the topic and rebuilds the current model.
 */
package org.mmoestream.publish;
