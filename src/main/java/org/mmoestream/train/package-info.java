/**
 * Online training inside Flink: {@link org.mmoestream.train.TrainOperator}, keyed by model id,
 * micro-batches labeled examples and calls the model core's training step; parameters, optimizer
 * state and embedding rows live in keyed RocksDB state; versions go to the publisher.
 */
package org.mmoestream.train;
