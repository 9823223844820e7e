/**
 * Everything on one machine: {@link org.mmoestream.local.EmbeddedKafka} (a single-node KRaft broker
 * in the process) and {@link org.mmoestream.local.Demo} ({@code bin/mmoe demo}: the broker, the
 * simulator, both jobs on local Flink clusters, the report and the learning curve).
 */
package org.mmoestream.local;
