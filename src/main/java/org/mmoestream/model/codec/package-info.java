/**
 * Model snapshots as safetensors bytes (8-byte little-endian header length, JSON header, raw
 * little-endian tensors), full or delta, and the state that applies them in order (DESIGN.md,
 * Model snapshots). Pure Java: Python reads the same bytes with numpy alone.
 */
package org.mmoestream.model.codec;
