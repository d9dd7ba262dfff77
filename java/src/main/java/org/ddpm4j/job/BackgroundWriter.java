package org.ddpm4j.job;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Writes a run's files (checkpoints, the loss plot) on one background thread, in the
 * order they were submitted, while training goes on. A failed write is not lost: it is
 * rethrown, with its own exception type, by the next call of {@link #rethrowFailures},
 * {@link #submit} or {@link #awaitIdle}.
 */
final class BackgroundWriter implements AutoCloseable {
    private final ExecutorService thread = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "ddpm-writer");
        t.setDaemon(true);  // never keeps the JVM alive; close() waits for the work
        return t;
    });
    private final List<Future<?>> pending = new ArrayList<>();
    private final AtomicLong busyNanos = new AtomicLong();

    /** Queues {@code task}; throws the failure of an earlier task first. The future tells when it is done. */
    Future<?> submit(Runnable task) {
        rethrowFailures();
        Future<?> f = thread.submit(() -> {
            long t0 = System.nanoTime();
            try {
                task.run();
            } finally {
                busyNanos.addAndGet(System.nanoTime() - t0);
            }
        });
        pending.add(f);
        return f;
    }

    /** Throws the failure of a finished task, if any (does not wait). */
    void rethrowFailures() {
        for (int i = 0; i < pending.size(); ) {
            Future<?> f = pending.get(i);
            if (!f.isDone()) {
                i++;
                continue;
            }
            pending.remove(i);
            get(f);
        }
    }

    /** Waits until every queued task has finished; throws the first failure. */
    void awaitIdle() {
        while (!pending.isEmpty()) get(pending.remove(0));
    }

    /** Time the writer thread has spent on tasks, in nanoseconds. */
    long busyNanos() {
        return busyNanos.get();
    }

    private static void get(Future<?> f) {
        try {
            f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the file writer", e);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException r) throw r;
            if (c instanceof Error err) throw err;
            throw new IllegalStateException(c);
        }
    }

    /** Waits for the queued work (a run's last checkpoint must land) and stops the thread. */
    @Override
    public void close() {
        try {
            awaitIdle();
        } finally {
            thread.shutdown();
            try {
                thread.awaitTermination(1, TimeUnit.MINUTES);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
