package org.ddpm4j.train;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Asks a running trainer to stop after its current step (and save a checkpoint),
 * e.g. from a Ctrl-C shutdown hook, and lets that hook wait until it has.
 */
public final class StopSignal {
    private volatile boolean requested;
    private final CountDownLatch finished = new CountDownLatch(1);

    public void request() {
        requested = true;
    }

    public boolean requested() {
        return requested;
    }

    /** The trainer calls this when it has stopped (normally or not). */
    public void finished() {
        finished.countDown();
    }

    /** Waits up to {@code seconds} for the trainer to stop; true if it did. */
    public boolean awaitFinished(long seconds) {
        try {
            return finished.await(seconds, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
