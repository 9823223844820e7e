/** Benchmarks behind {@code bin/mmoe bench}; every figure is printed as {@code name value unit}. */
package org.mmoestream.bench;
