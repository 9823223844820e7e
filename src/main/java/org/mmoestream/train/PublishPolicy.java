package org.mmoestream.train;

/**
 * Which model version comes next (pure: no Flink): versions are numbered 1, 2, ... per model; the
 * first after a (re)start and every {@code fullEvery}-th are full snapshots, the others deltas on
 * the previous version; nothing is published when nothing was trained (or measured) since the
 * last version (except the first after a start, which readers need as a base).
 */
final class PublishPolicy {
    /** The next version: its number, whether it is full, and the version it builds on. */
    record Next(long version, boolean full, long base) {}

    private final int fullEvery;
    private long version;
    private int versionsSinceFull;
    private boolean needFull = true;
    private long trainedSinceVersion;
    private boolean changedSinceVersion;

    PublishPolicy(int fullEvery) {
        this.fullEvery = fullEvery;
    }

    /** Restores the counters of a model from state; the next version is then full. */
    void restore(long version, int versionsSinceFull) {
        this.version = version;
        this.versionsSinceFull = versionsSinceFull;
        this.needFull = true;
    }

    void trained(long examples) {
        trainedSinceVersion += examples;
    }

    /**
     * The progressive metrics measured impressions without a batch (at the end of the input): the
     * next version carries them, even if nothing was trained since the last.
     */
    void measured() {
        changedSinceVersion = true;
    }

    /**
     * The model took a step on no new examples (what replicas held back of their gradients, {@code
     * train.gradient-density}): the next version carries it.
     */
    void steppedWithoutExamples() {
        changedSinceVersion = true;
    }

    /** The version to publish now, or null when there is nothing new. */
    Next next() {
        if (!needFull && trainedSinceVersion == 0 && !changedSinceVersion) {
            return null;
        }
        boolean full = needFull || versionsSinceFull + 1 >= fullEvery;
        return new Next(version + 1, full, version);
    }

    /** Records that {@code n} was published. */
    void published(Next n) {
        version = n.version();
        versionsSinceFull = n.full() ? 0 : versionsSinceFull + 1;
        needFull = false;
        trainedSinceVersion = 0;
        changedSinceVersion = false;
    }

    long version() {
        return version;
    }

    int versionsSinceFull() {
        return versionsSinceFull;
    }
}
