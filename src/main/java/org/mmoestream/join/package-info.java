/**
 * The click/conversion label join (DESIGN.md, Labels): {@link org.mmoestream.join.AttributionPolicy}
 * is the pure decision logic (windows, labels, when an example is final, what bounds the state);
 * {@link org.mmoestream.join.LabelJoinFunction} is the thin keyed Flink function that keeps a
 * {@link org.mmoestream.join.JoinState} per request id and one event-time timer.
 */
package org.mmoestream.join;
