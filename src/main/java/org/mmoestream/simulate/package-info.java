/**
 * A ground-truth simulator: users, items and contexts with hidden click and conversion
 * probabilities, so the best achievable AUC (the oracle's) is known.
 */
package org.mmoestream.simulate;
