/**
 * The feature spec (sparse hashed, multi-valued, dense) and the encoder that turns raw values into
 * embedding-table row ids and dense floats, so that any runtime can reproduce the model's inputs.
 */
package org.mmoestream.feature;
