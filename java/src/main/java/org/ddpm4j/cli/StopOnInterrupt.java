package org.ddpm4j.cli;

import java.io.PrintStream;
import org.ddpm4j.train.StopSignal;

/**
 * Ctrl-C for a long command: the JVM's shutdown hook asks the command to stop after its
 * current step and then waits (up to five minutes) until the command has finished —
 * checkpoint written and the closing lines printed — which {@link #close} signals. Without
 * the wait the JVM would halt as soon as the hook returned, cutting the summary off.
 */
final class StopOnInterrupt implements AutoCloseable {
    private static final long WAIT_SECONDS = 300;
    private final StopSignal signal = new StopSignal();
    private final Thread hook;
    private final PrintStream[] flush;

    private StopOnInterrupt(PrintStream... flush) {
        this.flush = flush;
        this.hook = new Thread(() -> {
            signal.request();
            signal.awaitFinished(WAIT_SECONDS);
        }, "ddpm-stop");
        Runtime.getRuntime().addShutdownHook(hook);
    }

    /** Installs the hook; {@code flush} are the streams to flush before letting the JVM go. */
    static StopOnInterrupt install(PrintStream... flush) {
        return new StopOnInterrupt(flush);
    }

    StopSignal signal() {
        return signal;
    }

    @Override
    public void close() {
        for (PrintStream p : flush) p.flush();
        signal.finished();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException ignored) {
            // the JVM is already shutting down (Ctrl-C): the hook is running and now returns
        }
    }
}
