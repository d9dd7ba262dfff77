package org.ddpm4j.api;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.ddpm4j.train.LossFormat;
import org.ddpm4j.train.Progress;

/**
 * How a {@link Trainer#train} call ended.
 *
 * @param endStep the global step the run stands at (steps trained, over every call)
 * @param epoch the epoch (0-based) of the next batch
 * @param position the batch within that epoch (0: the epoch is complete)
 * @param stepsTrained steps trained by this call
 * @param stopped a stop request ended it before its last step
 * @param endReason which limit ends the run, e.g. "the end of epoch 2 (--epochs 2, 782 steps each)" or "--steps 300 (in
 *     epoch 1 of 2)"
 * @param firstLoss mean loss of the first steps of this call (up to 50, at most half of them); NaN when none trained
 * @param lastLoss mean loss of as many last steps
 * @param window how many steps each of those means covers
 * @param seconds wall time of the training loop, checkpoints and sample grids included
 * @param times where the wall time went, in seconds, by phase: "setup", "warm-up", "training", "data wait", "checkpoints",
 *     "sample grids", "finish" (in that order), then "total" and "background writes" (overlapping the others)
 * @param timeLine the same in one line, as the command line prints it
 * @param steadyImagesPerSecond images/s of the steps after warm-up, training phase only; NaN when unknown
 * @param steadyEpochImagesPerSecond images/s of the complete epochs after this call's first, checkpoints included;
 *     NaN with fewer than two
 * @param checkpoint the run's newest checkpoint, model.ckpt
 * @param lossLog loss.jsonl, every step's loss
 * @param lossPlot loss.png, the loss curve
 * @param runJson run.json, this summary for scripts
 * @param grids the sample grids written by this call
 */
public record TrainingResult(long endStep, int epoch, int position, long stepsTrained, boolean stopped, String endReason,
                             double firstLoss, double lastLoss, int window, double seconds, Map<String, Double> times,
                             String timeLine, double steadyImagesPerSecond, double steadyEpochImagesPerSecond,
                             Path checkpoint, Path lossLog, Path lossPlot, Path runJson, List<Path> grids) {
    public TrainingResult {
        times = Collections.unmodifiableMap(new LinkedHashMap<>(times));
        grids = List.copyOf(grids);
    }

    /** The closing lines of {@code ddpm train}: steps, losses, why it ended, speed and the files (those that exist). */
    public String summary() {
        StringBuilder sb = new StringBuilder();
        if (stepsTrained > 0) {
            String where = position == 0 ? "after epoch " + epoch : "in epoch " + (epoch + 1) + " at batch " + position;
            sb.append(String.format(Locale.ROOT, "trained %d steps in %s (global step %d, %s): loss %s -> %s (means of the "
                            + "first and last %d steps)%n", stepsTrained, Progress.duration(seconds), endStep, where,
                    LossFormat.of(firstLoss), LossFormat.of(lastLoss), window));
            sb.append(stopped ? "ended by: a stop request (Ctrl-C)" : "ended by: " + endReason).append(System.lineSeparator());
            if (Double.isFinite(steadyEpochImagesPerSecond)) {
                sb.append(String.format(Locale.ROOT, "speed: %.1f images/s over the epochs after the first (checkpoints "
                        + "included), %.1f in the training steps after warm-up%n", steadyEpochImagesPerSecond, steadyImagesPerSecond));
            } else if (Double.isFinite(steadyImagesPerSecond)) {
                sb.append(String.format(Locale.ROOT, "speed: %.1f images/s in the training steps after warm-up%n", steadyImagesPerSecond));
            }
        }
        sb.append("checkpoint: ").append(checkpoint).append(System.lineSeparator());
        if (Files.exists(lossLog)) sb.append("loss log: ").append(lossLog).append(", curve: ").append(lossPlot)
                .append(System.lineSeparator());
        if (Files.exists(runJson)) sb.append("run summary: ").append(runJson).append(System.lineSeparator());
        for (Path g : grids) sb.append("samples: ").append(g).append(System.lineSeparator());
        return sb.toString();
    }
}
