package org.ddpm4j.train;

import java.io.PrintStream;
import java.time.Duration;
import java.util.Locale;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * A live terminal bar (me.tongfei:progressbar): step, percentage, elapsed and ETA, then epoch,
 * smoothed loss, images/s and steps/s. The ETA is ours (steps left at the recent steps/s), not the
 * bar's average since the start, which counts setup and sample grids as training speed.
 */
final class BarProgress implements Progress {
    private final PrintStream out;
    private ProgressBar bar;
    private int epochs;
    private volatile double etaSeconds = Double.NaN;

    BarProgress(PrintStream out) {
        this.out = out;
    }

    @Override
    public void start(String task, long totalSteps, long doneSteps, int epochs) {
        close();
        this.epochs = epochs;
        bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(totalSteps).startsFrom(doneSteps, Duration.ZERO)
                .setStyle(ProgressBarStyle.COLORFUL_UNICODE_BLOCK).setUpdateIntervalMillis(250).setMaxRenderedLength(120)
                .setEtaFunction(state -> Double.isFinite(etaSeconds)
                        ? java.util.Optional.of(Duration.ofMillis((long) (etaSeconds * 1000))) : java.util.Optional.empty())
                .setConsumer(new ConsoleProgressBarConsumer(out)).build();
    }

    @Override
    public void update(TrainingState s, double loss, double imagesPerSecond, double stepsPerSecond) {
        if (bar == null) return;
        etaSeconds = Progress.eta(bar.getMax() - s.globalStep(), stepsPerSecond);
        bar.stepTo(s.globalStep());
        bar.setExtraMessage(String.format(Locale.ROOT, " epoch %d/%d | loss %s | %s img/s | %s steps/s",
                Math.min(epochs, s.epoch() + 1), epochs, Double.isNaN(loss) ? "-" : LossFormat.of(loss),
                LineProgress.rate(imagesPerSecond), LineProgress.rate(stepsPerSecond)));
    }

    @Override
    public void message(String line) {
        // Clear the bar's line, print, and let the bar redraw on its next tick.
        out.print("\r\033[K");
        out.println(line);
        out.flush();
    }

    @Override
    public void close() {
        if (bar != null) {
            bar.close();
            bar = null;
        }
    }
}
