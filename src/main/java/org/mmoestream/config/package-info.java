/** Immutable, validated configuration; bad input fails at start with one sentence naming it. */
package org.mmoestream.config;
