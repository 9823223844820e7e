/**
 * Serving: {@link org.mmoestream.score.Scorer} scores requests in-process from a snapshot or the
 * model topic, with no Flink; the scoring job joins requests to the broadcast model stream.
 */
package org.mmoestream.score;
