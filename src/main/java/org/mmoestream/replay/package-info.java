/**
 * Turns a labeled CSV file into impression, click and conversion events, in file order, so a
 * recorded dataset can drive the streaming pipeline and be compared with offline training.
 */
package org.mmoestream.replay;
