package org.ddpm4j.cli;

import java.io.PrintStream;

/** The streams a command writes to: results on out, logs, progress and errors on err. */
record Io(PrintStream out, PrintStream err) {}
