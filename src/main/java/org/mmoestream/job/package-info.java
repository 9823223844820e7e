/** Job graphs built from injected sources and sinks; {@code main}s wire only production I/O. */
package org.mmoestream.job;
