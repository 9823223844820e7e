/**
 * Offline training on labeled CSV files ({@code train-file}): reading and encoding rows, the
 * training loop around {@link org.mmoestream.model.MmoeModel#trainStep}, evaluation and the
 * report. Uses the same training step as the streaming operator.
 */
package org.mmoestream.offline;
