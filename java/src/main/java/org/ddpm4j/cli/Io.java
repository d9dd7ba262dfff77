package org.ddpm4j.cli;

import java.io.PrintStream;

/**
 * The streams a command writes to (results on out; logs, progress and errors on err) and when the
 * command started (System.nanoTime(): the JVM's start for the {@code ddpm} process, the call for an
 * in-process run), where a run's time breakdown begins.
 */
record Io(PrintStream out, PrintStream err, long startNanos) {}
