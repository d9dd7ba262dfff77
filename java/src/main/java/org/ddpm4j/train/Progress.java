package org.ddpm4j.train;

import java.io.PrintStream;
import java.util.Locale;
import org.ddpm4j.setting.Setting;

/** Shows a run's progress: a live bar on a terminal, plain lines otherwise. */
public interface Progress extends AutoCloseable {

    /** How to show progress (--progress). */
    enum Mode {
        AUTO, BAR, PLAIN, NONE;

        public static Mode parse(String s) {
            return Setting.PROGRESS.parse(s, values());
        }
    }

    /**
     * @param totalSteps global step the run ends at
     * @param doneSteps global step it starts from (a resumed run)
     */
    void start(String task, long totalSteps, long doneSteps, int epochs);

    /**
     * After each step: the state reached, the smoothed loss (NaN before the first read) and the
     * speed over the recent past (images/s and steps/s of wall time, NaN until known).
     */
    void update(TrainingState state, double loss, double imagesPerSecond, double stepsPerSecond);

    /** A line of text shown without breaking the bar. */
    void message(String line);

    @Override
    void close();

    /** BAR when asked or when AUTO and stderr looks like a terminal; PLAIN or NONE otherwise. */
    static Progress create(Mode mode, PrintStream err) {
        Mode m = mode;
        if (m == Mode.AUTO) m = isTerminal() ? Mode.BAR : Mode.PLAIN;
        return switch (m) {
            case BAR -> new BarProgress(err);
            case PLAIN -> new LineProgress(err, 10_000);
            default -> new LineProgress(null, Long.MAX_VALUE);
        };
    }

    static boolean isTerminal() {
        String term = System.getenv("TERM");
        return System.console() != null && term != null && !term.equals("dumb");
    }

    /** Seconds left for {@code stepsLeft} steps at {@code stepsPerSecond}; NaN when unknown. */
    static double eta(long stepsLeft, double stepsPerSecond) {
        if (stepsLeft <= 0) return 0;
        return stepsPerSecond > 0 ? stepsLeft / stepsPerSecond : Double.NaN;
    }

    static String duration(double seconds) {
        if (!Double.isFinite(seconds) || seconds < 0) return "?";
        long s = Math.round(seconds);
        if (s < 60) return s + "s";
        if (s < 3600) return String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
        return String.format(Locale.ROOT, "%dh%02dm", s / 3600, (s % 3600) / 60);
    }
}
