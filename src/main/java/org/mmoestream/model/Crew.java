package org.mmoestream.model;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.LockSupport;

/**
 * The threads of a {@link ParallelStep}: {@code size - 1} daemon threads and the caller, which run
 * one phase of a step together ({@link #run}: part i on thread i, part 0 on the caller) and wait
 * for each other at its end. A step has three short phases, a few milliseconds in all, so a thread
 * that is done spins for a while before it parks: handing a phase over through the kernel (a
 * futex wake-up) costs tens of microseconds on a virtual machine, more than most waits here.
 */
final class Crew {
    /** How long a thread that waits spins before it parks. */
    private static final long SPIN_NANOS = 50_000;

    private final Thread[] threads;
    /** Per thread: 1 while it is parked or about to park (the caller then unparks it). */
    private final AtomicIntegerArray sleeping;

    private final AtomicInteger pending = new AtomicInteger();
    private final Throwable[] failures;
    private volatile ParallelStep.Part task;
    /** Phases handed out so far (a thread runs each once). */
    private volatile long generation;

    private volatile boolean closed;
    private volatile Thread caller;
    private volatile boolean callerSleeping;

    Crew(int size, String name) {
        threads = new Thread[size];
        sleeping = new AtomicIntegerArray(size);
        failures = new Throwable[size];
        for (int i = 1; i < size; i++) {
            int id = i;
            Thread t = new Thread(() -> loop(id), name + "-" + i);
            t.setDaemon(true);
            threads[i] = t;
            t.start();
        }
    }

    /** Runs {@code part} on every thread (part 0 on the caller) and returns when all are done. */
    void run(ParallelStep.Part part) {
        if (closed) {
            throw new IllegalStateException("the step's threads are stopped");
        }
        caller = Thread.currentThread();
        java.util.Arrays.fill(failures, null);
        pending.set(threads.length - 1);
        task = part;
        generation = generation + 1;
        for (int i = 1; i < threads.length; i++) {
            if (sleeping.get(i) == 1) {
                LockSupport.unpark(threads[i]);
            }
        }
        Throwable failed = null;
        try {
            part.run(0);
        } catch (Throwable e) {
            failed = e;
        } finally {
            // Whatever part 0 did, the others finish this phase before the next can start.
            awaitOthers();
        }
        for (int i = 1; i < threads.length; i++) {
            if (failures[i] != null) {
                if (failed == null) {
                    failed = failures[i];
                } else {
                    failed.addSuppressed(failures[i]);
                }
            }
        }
        if (failed instanceof RuntimeException r) {
            throw r;
        }
        if (failed instanceof Error e) {
            throw e;
        }
        if (failed != null) {
            throw new IllegalStateException("a step's thread failed", failed);
        }
    }

    private void awaitOthers() {
        long t0 = System.nanoTime();
        while (pending.get() > 0) {
            if (System.nanoTime() - t0 < SPIN_NANOS) {
                Thread.onSpinWait();
                continue;
            }
            callerSleeping = true;
            if (pending.get() > 0) {
                LockSupport.parkNanos(this, 1_000_000);
            }
            callerSleeping = false;
        }
    }

    private void loop(int i) {
        long seen = 0;
        while (true) {
            long g = generation;
            if (g == seen) {
                if (closed) {
                    return;
                }
                idle(i, seen);
                continue;
            }
            // A phase handed out runs, even when the crew closes meanwhile: the caller waits for it.
            seen = g;
            try {
                task.run(i);
            } catch (Throwable e) {
                failures[i] = e;
            } finally {
                if (pending.decrementAndGet() == 0 && callerSleeping) {
                    LockSupport.unpark(caller);
                }
            }
        }
    }

    /** Waits for a phase after {@code seen}: spins, then parks until the caller unparks it. */
    private void idle(int i, long seen) {
        long t0 = System.nanoTime();
        while (generation == seen && !closed) {
            if (System.nanoTime() - t0 < SPIN_NANOS) {
                Thread.onSpinWait();
                continue;
            }
            sleeping.set(i, 1);
            if (generation == seen && !closed) {
                LockSupport.park(this);
            }
            sleeping.set(i, 0);
        }
    }

    /** Stops the threads (a phase in progress finishes first). */
    void close() {
        closed = true;
        for (int i = 1; i < threads.length; i++) {
            LockSupport.unpark(threads[i]);
        }
    }
}
