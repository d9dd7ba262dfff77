package org.ddpm4j.api;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.function.Supplier;
import org.ddpm4j.backend.BackendUnavailableException;
import org.ddpm4j.checkpoint.CheckpointException;
import org.ddpm4j.data.DataException;
import org.ddpm4j.setting.NamesSettings;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.setting.SettingText;
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

    /** An error about {@code setting} (its name, a space, then {@code parts}: see {@link Setting#invalid}). */
    static InvalidInputException invalid(Setting setting, Object... parts) {
        return new InvalidInputException(setting.invalid(parts).settingText(), null);
    }

    /** The texts separated by commas. */
    static SettingText join(List<?> parts) {
        List<Object> all = new ArrayList<>();
        for (Object p : parts) {
            if (!all.isEmpty()) all.add(", ");
            all.add(p);
        }
        return SettingText.of(all.toArray());
    }

    static DdpmException translate(Throwable t) {
        if (t instanceof DdpmException d) return d;
        SettingText text = t instanceof NamesSettings n ? n.settingText() : null;
        if (t instanceof TrainingDivergedException d) {
            return text != null ? new DivergedException(d.step(), text, d) : new DivergedException(d.step(), oneLine(d.getMessage()), d);
        }
        if (t instanceof BackendUnavailableException) {
            return text != null ? new DeviceUnavailableException(text, t) : new DeviceUnavailableException(describe(t), t);
        }
        if (t instanceof DataException || t instanceof CheckpointException || t instanceof IllegalArgumentException
                || t instanceof UncheckedIOException) {
            return text != null ? new InvalidInputException(text, t) : new InvalidInputException(describe(t), t);
        }
        if (t instanceof OutOfMemoryError) {
            return new InvalidInputException(SettingText.of("out of memory (" + oneLine(t.getMessage()) + "); try a smaller ",
                    Setting.BATCH, " or give Java more heap (JAVA_OPTS=-Xmx...)"), t);
        }
        if (t instanceof UnsatisfiedLinkError) {
            return new DeviceUnavailableException("the native library of ddpm4j does not load on this machine ("
                    + oneLine(t.getMessage()) + ")", t);
        }
        // The native code's errors (ddpm::Error) arrive as plain RuntimeExceptions: an exhausted device is the
        // caller's to fix (a smaller batch), anything else is a bug.
        if (t.getClass() == RuntimeException.class && String.valueOf(t.getMessage()).contains("out of memory")) {
            return new DeviceUnavailableException(SettingText.of(describe(t) + "; try a smaller ", Setting.BATCH), t);
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
