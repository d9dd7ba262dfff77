package org.ddpm4j.train;

import java.io.PrintStream;
import java.util.Locale;

/** Progress as plain log lines, every {@code intervalMillis} and at each epoch end (for logs and pipes). */
final class LineProgress implements Progress {
    private final PrintStream out;
    private final long intervalNanos;
    private String task = "train";
    private long total;
    private long startStep;
    private int epochs;
    private long startNanos;
    private long lastPrint;
    private int lastEpoch = -1;

    /** @param out null to print nothing */
    LineProgress(PrintStream out, long intervalMillis) {
        this.out = out;
        this.intervalNanos = intervalMillis >= Long.MAX_VALUE / 1_000_000 ? Long.MAX_VALUE : intervalMillis * 1_000_000;
    }

    @Override
    public void start(String task, long totalSteps, long doneSteps, int epochs) {
        this.task = task;
        this.total = totalSteps;
        this.startStep = doneSteps;
        this.epochs = epochs;
        this.startNanos = System.nanoTime();
        this.lastPrint = startNanos;
        this.lastEpoch = -1;
    }

    @Override
    public void update(TrainingState s, double loss, double imagesPerSecond, double stepsPerSecond) {
        if (out == null) return;
        long now = System.nanoTime();
        boolean epochEnd = s.position() == 0 && s.epoch() != lastEpoch && s.globalStep() > startStep;
        if (!epochEnd && now - lastPrint < intervalNanos && s.globalStep() < total) return;
        lastPrint = now;
        lastEpoch = s.epoch();
        double elapsed = (now - startNanos) / 1e9;
        double eta = Progress.eta(total - s.globalStep(), stepsPerSecond);
        int shownEpoch = Math.min(epochs, epochEnd ? s.epoch() : s.epoch() + 1);
        out.println(String.format(Locale.ROOT, "%s: epoch %d/%d step %d/%d (%.1f%%) loss %s %s img/s %s steps/s elapsed %s eta %s",
                task, shownEpoch, epochs, s.globalStep(), total, total > 0 ? 100.0 * s.globalStep() / total : 100.0,
                Double.isNaN(loss) ? "-" : LossFormat.of(loss), rate(imagesPerSecond), rate(stepsPerSecond),
                Progress.duration(elapsed), Progress.duration(eta)));
        out.flush();
    }

    static String rate(double v) {
        if (!Double.isFinite(v)) return "-";
        return String.format(Locale.ROOT, v >= 100 ? "%,.0f" : v >= 10 ? "%.1f" : "%.2f", v);
    }

    @Override
    public void message(String line) {
        if (out != null) {
            out.println(line);
            out.flush();
        }
    }

    @Override
    public void close() {}
}
