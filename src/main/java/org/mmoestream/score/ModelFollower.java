package org.mmoestream.score;

import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.WakeupException;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.publish.ModelReader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A background thread that keeps a {@link Scorer} on the latest committed version of every model
 * on the model topic: it catches up first (the last full snapshot and the deltas after it, per
 * model), then installs each new version as it completes. Decoding and copying a version happen
 * on this thread, never on the thread that scores. A record that cannot be used is logged (topic,
 * partition, offset, reason) and told to {@code onRejected}; the last good version keeps serving.
 * The thread never dies of a bad record or a broker outage: it logs and tries again.
 */
public final class ModelFollower implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ModelFollower.class);

    private final Thread thread;
    private final CountDownLatch caughtUp = new CountDownLatch(1);
    private volatile boolean stop;
    private volatile ModelReader reader;

    private final Set<String> known = new HashSet<>();
    private final Consumer<String> onFirstVersion;

    private ModelFollower(
            Supplier<ModelReader> open,
            Scorer into,
            Consumer<ModelReader.Rejected> onRejected,
            Consumer<String> onFirstVersion,
            Duration catchUpMax) {
        this.onFirstVersion = onFirstVersion;
        thread = new Thread(() -> run(open, into, onRejected, catchUpMax), "mmoe-model-follower");
        thread.setDaemon(true);
    }

    /** Starts following; see {@link #awaitCaughtUp} to wait for the versions already on the topic. */
    public static ModelFollower start(
            Supplier<ModelReader> open, Scorer into, Consumer<ModelReader.Rejected> onRejected, Duration catchUpMax) {
        return start(open, into, onRejected, model -> {}, catchUpMax);
    }

    /**
     * As above; {@code onFirstVersion} runs on the follower's thread right after the first version of
     * a model is installed (and, for the models on the topic at start, before {@link #awaitCaughtUp}
     * returns): the scoring job warms its scoring path up there.
     */
    public static ModelFollower start(
            Supplier<ModelReader> open,
            Scorer into,
            Consumer<ModelReader.Rejected> onRejected,
            Consumer<String> onFirstVersion,
            Duration catchUpMax) {
        ModelFollower f = new ModelFollower(open, into, onRejected, onFirstVersion, catchUpMax);
        f.thread.start();
        return f;
    }

    private void run(
            Supplier<ModelReader> open, Scorer into, Consumer<ModelReader.Rejected> onRejected, Duration catchUpMax) {
        while (!stop) {
            try (ModelReader r = open.get()) {
                reader = r;
                r.onRejected(x -> {
                    LOG.warn("model record rejected: {}", x);
                    onRejected.accept(x);
                });
                r.catchUp(catchUpMax);
                installAll(r, into);
                caughtUp.countDown();
                while (!stop) {
                    if (r.poll(Duration.ofMillis(500)) > 0) {
                        installAll(r, into);
                    }
                }
            } catch (WakeupException | InterruptException e) {
                // close() woke the consumer up
            } catch (RuntimeException e) {
                if (!stop) {
                    LOG.warn("model follower failed ({}); starting over in 1 s", e.toString());
                    sleepQuietly();
                }
            } finally {
                reader = null;
            }
        }
        caughtUp.countDown();
    }

    private void installAll(ModelReader r, Scorer into) {
        for (SnapshotState s : r.models().values()) {
            into.install(s);
            if (known.add(s.modelId())) {
                try {
                    onFirstVersion.accept(s.modelId());
                } catch (RuntimeException e) {
                    LOG.warn("after the first version of model '{}': {}", s.modelId(), e.toString());
                }
            }
        }
    }

    private static void sleepQuietly() {
        try {
            Thread.sleep(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Waits until the versions on the topic at start are installed; false after {@code timeout}. */
    public boolean awaitCaughtUp(Duration timeout) {
        try {
            return caughtUp.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    @Override
    public void close() throws InterruptedException {
        stop = true;
        ModelReader r = reader;
        if (r != null) {
            r.wakeup();
        }
        thread.join(10_000);
    }
}
