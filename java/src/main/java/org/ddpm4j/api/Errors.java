package org.ddpm4j.api;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import java.util.concurrent.CancellationException;
import java.util.function.Supplier;
import org.ddpm4j.backend.BackendUnavailableException;
import org.ddpm4j.checkpoint.CheckpointException;
import org.ddpm4j.data.DataException;
import org.ddpm4j.train.TrainingDivergedException;

/**
 * The one place where the exceptions of the packages under the facade become its typed ones,
 * keeping the message (made one line) and the cause. Every public entry point of the facade runs
 * its work through {@link #call}; a {@link CancellationException} (a stop request during sampling)
 * passes unchanged.
 */
final class Errors {
    private Errors() {}

    static <T> T call(Supplier<T> work) {
        try {
            return work.get();
        } catch (CancellationException e) {
            throw e;
        } catch (RuntimeException | Error e) {
            throw translate(e);
        }
    }

    static void run(Runnable work) {
        call(() -> {
            work.run();
            return null;
        });
    }

    static DdpmException translate(Throwable t) {
        if (t instanceof DdpmException d) return d;
        if (t instanceof TrainingDivergedException d) return new DivergedException(d.step(), oneLine(d.getMessage()), d);
        if (t instanceof BackendUnavailableException) return new DeviceUnavailableException(describe(t), t);
        if (t instanceof DataException || t instanceof CheckpointException || t instanceof IllegalArgumentException
                || t instanceof UncheckedIOException) {
            return new InvalidInputException(describe(t), t);
        }
        if (t instanceof OutOfMemoryError) {
            return new InvalidInputException("out of memory (" + oneLine(t.getMessage()) + "); try a smaller --batch or give "
                    + "Java more heap (JAVA_OPTS=-Xmx...)", t);
        }
        if (t instanceof UnsatisfiedLinkError) {
            return new DeviceUnavailableException("the native library of ddpm4j does not load on this machine ("
                    + oneLine(t.getMessage()) + ")", t);
        }
        // The native code's errors (ddpm::Error) arrive as plain RuntimeExceptions: an exhausted device is the
        // caller's to fix (a smaller batch), anything else is a bug.
        if (t.getClass() == RuntimeException.class && String.valueOf(t.getMessage()).contains("out of memory")) {
            return new DeviceUnavailableException(describe(t) + "; try a smaller --batch", t);
        }
        String m = t.getMessage();
        return new InternalException(t.getClass().getSimpleName() + (m == null || m.isBlank() ? "" : ": " + oneLine(m)), t);
    }

    /** The message a user reads: one line, files that do not exist said so. */
    static String describe(Throwable ex) {
        if (ex instanceof UncheckedIOException u && u.getCause() != null && u.getMessage() == null) ex = u.getCause();
        if (ex instanceof NoSuchFileException n) return n.getFile() + " does not exist";
        if (ex instanceof FileNotFoundException f) return oneLine(f.getMessage());
        String m = ex.getMessage();
        if (m == null || m.isBlank()) return ex.getClass().getSimpleName();
        if (ex instanceof IOException) return ex.getClass().getSimpleName() + ": " + oneLine(m);
        return oneLine(m);
    }

    static String oneLine(String s) {
        if (s == null) return "";
        String t = s.strip();
        int nl = t.indexOf('\n');
        return nl < 0 ? t : t.substring(0, nl).strip();
    }
}
