package org.ddpm4j.cli;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.List;
import org.ddpm4j.api.Ddpm;
import org.ddpm4j.api.DdpmException;
import org.ddpm4j.api.DeviceUnavailableException;
import org.ddpm4j.api.DivergedException;
import org.ddpm4j.api.InvalidInputException;
import org.ddpm4j.setting.NamesSettings;
import org.ddpm4j.setting.Setting;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * The {@code ddpm} command line, written on the Java API ({@code org.ddpm4j.api}). An error the user
 * can fix (a wrong flag, a missing or damaged file, an impossible value, an unusable device, a
 * diverged run: the facade's {@link InvalidInputException}, {@link DeviceUnavailableException} and
 * {@link DivergedException}) prints one line to stderr and exits with 2; {@code --debug} adds the
 * stack trace. Anything else is a bug (the facade's InternalException, native failures included):
 * one line and exit code 1.
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
        int code = run(args, System.out, System.err, jvmStartNanos());
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
        CommandLine cl = commandLine(io);
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setParameterExceptionHandler((ex, a) -> {
            String cmd = ex.getCommandLine().getCommandSpec().qualifiedName();
            err.println(cmd + ": " + oneLine(ex.getMessage()) + suggestion(ex) + " (see '" + cmd + " --help')");
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

    /** For a misspelt option, picocli's nearest names: "; did you mean --sampling-steps?", else "". */
    static String suggestion(CommandLine.ParameterException ex) {
        if (!(ex instanceof CommandLine.UnmatchedArgumentException u)) return "";
        List<String> names = u.getSuggestions().stream().filter(n -> n.startsWith("-")).limit(3).toList();
        return names.isEmpty() ? "" : "; did you mean " + String.join(" or ", names) + "?";
    }

    /** The command tree, its commands built to print on {@code io}. */
    static CommandLine commandLine(Io io) {
        return new CommandLine(new Main(io), new Factory(io));
    }

    /** Errors a user can cause and fix; anything else is a bug. */
    static boolean isExpected(Throwable ex) {
        return ex instanceof InvalidInputException || ex instanceof DeviceUnavailableException || ex instanceof DivergedException;
    }

    static String describe(Throwable ex) {
        if (ex instanceof DdpmException) return oneLine(inFlags(ex));
        String m = ex.getMessage();
        return ex.getClass().getSimpleName() + (m == null || m.isBlank() ? "" : ": " + oneLine(m));
    }

    /** The message with the settings it names as command-line flags ("--log-every", not "logEvery"). */
    static String inFlags(Throwable ex) {
        if (ex instanceof DdpmException d) return d.message(Setting::flag);
        if (ex instanceof NamesSettings n && n.settingText() != null) return n.settingText().render(Setting::flag);
        return ex.getMessage();
    }

    /** Nanoseconds since this JVM started, as a System.nanoTime() value (the setup of a run starts there). */
    static long jvmStartNanos() {
        return System.nanoTime() - ManagementFactory.getRuntimeMXBean().getUptime() * 1_000_000L;
    }

    static String oneLine(String s) {
        if (s == null) return "";
        String t = s.strip();
        int nl = t.indexOf('\n');
        return nl < 0 ? t : t.substring(0, nl).strip();
    }

    /** picocli version provider. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String nativeVersion;
            try {
                nativeVersion = Ddpm.nativeVersion();
            } catch (Throwable t) {
                nativeVersion = "not loadable: " + oneLine(t.getMessage());
            }
            return new String[] {"ddpm4j " + Ddpm.version() + " (native " + nativeVersion + ")"};
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
