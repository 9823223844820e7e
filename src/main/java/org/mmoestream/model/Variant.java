package org.mmoestream.model;

import java.util.Locale;

/**
 * The multi-task architectures built from the same code (MMoE paper, Sec. 4 and 6).
 *
 * <ul>
 *   <li>{@code MMOE}: shared experts, one softmax gate per task.
 *   <li>{@code OMOE}: shared experts, one softmax gate shared by all tasks.
 *   <li>{@code SHARED_BOTTOM}: one bottom network (hard parameter sharing), no gate.
 *   <li>{@code SINGLE_TASK}: one bottom network per task, each used by its own task only. The
 *       embedding tables stay shared (as in ESMM's BASE model); everything above them is separate.
 *   <li>{@code PLE}: customized gate control (CGC, the one-level PLE of Tang et al., RecSys 2020):
 *       shared experts and each task's own experts; each task's gate weighs the shared experts and
 *       its own only.
 * </ul>
 */
public enum Variant {
    MMOE,
    OMOE,
    SHARED_BOTTOM,
    SINGLE_TASK,
    /** Progressive layered extraction at one level (CGC): shared experts and each task's own. */
    PLE;

    /** The command-line and spec spelling: {@code mmoe}, {@code omoe}, {@code shared-bottom}... */
    public String key() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** Parses the spelling of {@link #key()}, or returns null. */
    public static Variant parse(String text) {
        for (Variant v : values()) {
            if (v.key().equals(text)) {
                return v;
            }
        }
        return null;
    }
}
