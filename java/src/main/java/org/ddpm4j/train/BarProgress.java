package org.ddpm4j.train;

import java.io.PrintStream;
import java.time.Duration;
import java.util.Locale;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/** A live terminal bar (me.tongfei:progressbar): step, percentage, elapsed and ETA, then epoch, smoothed loss and images/s. */
final class BarProgress implements Progress {
    private final PrintStream out;
    private ProgressBar bar;
    private int epochs;

    BarProgress(PrintStream out) {
        this.out = out;
    }

    @Override
    public void start(String task, long totalSteps, long doneSteps, int epochs) {
        close();
        this.epochs = epochs;
        bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(totalSteps).startsFrom(doneSteps, Duration.ZERO)
                .setStyle(ProgressBarStyle.COLORFUL_UNICODE_BLOCK).setUpdateIntervalMillis(250).setMaxRenderedLength(120)
                .setConsumer(new ConsoleProgressBarConsumer(out)).build();
    }

    @Override
    public void update(TrainingState s, double loss, double imagesPerSecond) {
        if (bar == null) return;
        bar.stepTo(s.globalStep());
        bar.setExtraMessage(String.format(Locale.ROOT, " epoch %d/%d | loss %s | %.0f img/s", Math.min(epochs, s.epoch() + 1),
                epochs, Double.isNaN(loss) ? "-" : String.format(Locale.ROOT, "%.4f", loss), imagesPerSecond));
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
