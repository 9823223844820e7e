/**
 * Optimizers in two parts (as ND4J's updater configs and their state): an immutable {@link
 * org.mmoestream.model.optim.OptimizerConfig} that knows how many state slots it needs, and the
 * update rules applied to flat parameter, gradient and state arrays, dense or row-sparse.
 */
package org.mmoestream.model.optim;
