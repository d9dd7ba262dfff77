package org.ddpm4j.cli;

import java.io.PrintStream;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Ctrl-C for a long command: the JVM's shutdown hook asks the command to stop after its
 * current step and then waits (up to five minutes) until the command has finished —
 * checkpoint written and the closing lines printed — which {@link #close} signals. Without
 * the wait the JVM would halt as soon as the hook returned, cutting the summary off.
 */
final class StopOnInterrupt implements AutoCloseable {
    private static final long WAIT_SECONDS = 300;
    private final CountDownLatch finished = new CountDownLatch(1);
    private final Thread hook;
    private final PrintStream[] flush;

    private StopOnInterrupt(Runnable requestStop, PrintStream... flush) {
        this.flush = flush;
        this.hook = new Thread(() -> {
            requestStop.run();
            try {
                finished.await(WAIT_SECONDS, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "ddpm-stop");
        Runtime.getRuntime().addShutdownHook(hook);
    }

    /**
     * Installs the hook.
     *
     * @param requestStop asks the command to stop (thread-safe)
     * @param flush the streams to flush before letting the JVM go
     */
    static StopOnInterrupt install(Runnable requestStop, PrintStream... flush) {
        return new StopOnInterrupt(requestStop, flush);
    }

    @Override
    public void close() {
        for (PrintStream p : flush) p.flush();
        finished.countDown();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException ignored) {
            // the JVM is already shutting down (Ctrl-C): the hook is running and now returns
        }
    }
}
