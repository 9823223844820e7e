/** The {@code mmoe} command line: arguments -> validated configuration -> work. */
package org.mmoestream.cli;
