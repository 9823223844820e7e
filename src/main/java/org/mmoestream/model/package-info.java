/**
 * The MMoE model core (Ma et al., "Modeling Task Relationships in Multi-task Learning with
 * Multi-gate Mixture-of-Experts", KDD 2018) with the ESMM task chain (Ma et al., SIGIR 2018): spec,
 * parameters in flat buffers, forward and backward, losses, metrics. Pure Java on ND4J, no Flink.
 *
 * <p>Performance note: ND4J is used for the matrix products only, into preallocated buffers; every
 * element-wise step (bias, ReLU, softmax gates, mixture, losses, optimizer updates) runs as a Java
 * loop over the arrays' direct memory. A small ND4J op costs tens of microseconds on this stack, and
 * a fresh allocation costs a page fault per 4 KiB, so both are kept out of the training step.
 */
package org.mmoestream.model;
