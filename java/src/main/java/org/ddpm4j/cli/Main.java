package org.ddpm4j.cli;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import java.util.Arrays;
import org.ddpm4j.backend.BackendUnavailableException;
import org.ddpm4j.checkpoint.CheckpointException;
import org.ddpm4j.data.DataException;
import org.ddpm4j.train.TrainingDivergedException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * The {@code ddpm} command line. Every error (a wrong flag, a missing file, an
 * impossible value, an unusable backend, a native configuration error) prints one
 * line to stderr and exits with 2; {@code --debug} adds the stack trace. Unexpected
 * failures (bugs) print one line and exit with 1.
 */
@Command(name = "ddpm", mixinStandardHelpOptions = true, versionProvider = Main.Version.class, usageHelpAutoWidth = true,
        description = {"DDPM training and sampling: the seed notebook's UNet on a native CPU or CUDA backend.",
                "Start with: ddpm train --preset tiny   then: ddpm sample --from runs/tiny/model.ckpt"},
        subcommands = {TrainCommand.class, SampleCommand.class, FinetuneCommand.class, ExportCommand.class,
                ImportCommand.class, InfoCommand.class, BenchCommand.class, CommandLine.HelpCommand.class})
public final class Main implements java.util.concurrent.Callable<Integer> {
    public static final int EXIT_USAGE = 2;
    public static final int EXIT_INTERNAL = 1;

    private final Io io;

    Main(Io io) {
        this.io = io;
    }

    @Spec
    CommandSpec spec;

    /** {@code ddpm} alone: the usage, on stderr, and the usage exit code. */
    @Override
    public Integer call() {
        spec.commandLine().usage(io.err());
        return EXIT_USAGE;
    }

    public static void main(String[] args) {
        System.setProperty("java.awt.headless", "true");
        int code = run(args, System.out, System.err, org.ddpm4j.job.TrainJob.jvmStartNanos());
        System.out.flush();
        System.exit(code);
    }

    /** Runs the command line; returns the exit code. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        return run(args, out, err, System.nanoTime());
    }

    /** @param startNanos when the command started (System.nanoTime()), for the time breakdown of a run */
    static int run(String[] args, PrintStream out, PrintStream err, long startNanos) {
        System.setProperty("java.awt.headless", "true");
        Io io = new Io(out, err, startNanos);
        boolean debug = Arrays.asList(args).contains("--debug");
        CommandLine cl = new CommandLine(new Main(io), new Factory(io));
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setParameterExceptionHandler((ex, a) -> {
            String cmd = ex.getCommandLine().getCommandSpec().qualifiedName();
            err.println(cmd + ": " + oneLine(ex.getMessage()) + " (see '" + cmd + " --help')");
            if (debug) ex.printStackTrace(err);
            return EXIT_USAGE;
        });
        cl.setExecutionExceptionHandler((ex, c, parsed) -> {
            String cmd = c.getCommandSpec().qualifiedName();
            boolean expected = isExpected(ex);
            err.println(cmd + ": " + (expected ? "error: " : "internal error: ") + describe(ex)
                    + (expected || debug ? "" : " (run with --debug for the stack trace)"));
            if (debug) ex.printStackTrace(err);
            return expected ? EXIT_USAGE : EXIT_INTERNAL;
        });
        try {
            return cl.execute(args);
        } catch (Throwable t) {  // an Error (e.g. a class missing from a rebuilt jar) that picocli passes on
            err.println("ddpm: internal error: " + t.getClass().getSimpleName() + ": " + oneLine(t.getMessage())
                    + (debug ? "" : " (run with --debug for the stack trace)"));
            if (debug) t.printStackTrace(err);
            return EXIT_INTERNAL;
        }
    }

    /** Errors a user can cause and fix; anything else is a bug. */
    static boolean isExpected(Throwable ex) {
        return ex instanceof DataException || ex instanceof CheckpointException || ex instanceof BackendUnavailableException
                || ex instanceof TrainingDivergedException
                || ex instanceof IllegalArgumentException || ex instanceof UncheckedIOException || ex instanceof IOException
                || ex instanceof OutOfMemoryError || ex.getClass() == RuntimeException.class;  // native errors arrive as plain RuntimeException
    }

    static String describe(Throwable ex) {
        if (ex instanceof UncheckedIOException u && u.getCause() != null && u.getMessage() == null) ex = u.getCause();
        if (ex instanceof NoSuchFileException n) return n.getFile() + " does not exist";
        if (ex instanceof FileNotFoundException f) return oneLine(f.getMessage());
        if (ex instanceof OutOfMemoryError) return "out of memory (" + oneLine(ex.getMessage()) + "); try a smaller --batch or give Java more heap (JAVA_OPTS=-Xmx...)";
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

    static String version() {
        String v = Main.class.getPackage().getImplementationVersion();
        return v != null ? v : "dev";
    }

    /** picocli version provider. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String nativeVersion;
            try {
                nativeVersion = org.ddpm4j.binding.Backends.nativeVersion();
            } catch (Throwable t) {
                nativeVersion = "not loadable: " + oneLine(t.getMessage());
            }
            return new String[] {"ddpm4j " + version() + " (native " + nativeVersion + ")"};
        }
    }

    /** Creates commands with the streams they write to. */
    private static final class Factory implements CommandLine.IFactory {
        private final Io io;

        Factory(Io io) {
            this.io = io;
        }

        @Override
        public <K> K create(Class<K> cls) throws Exception {
            try {
                var ctor = cls.getDeclaredConstructor(Io.class);
                ctor.setAccessible(true);
                return ctor.newInstance(io);
            } catch (NoSuchMethodException e) {
                return CommandLine.defaultFactory().create(cls);
            }
        }
    }
}
