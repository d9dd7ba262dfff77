package org.ddpm4j.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;
import org.ddpm4j.checkpoint.Checkpoint;
import org.ddpm4j.job.TrainJob;
import org.ddpm4j.train.LossFormat;
import org.ddpm4j.train.Progress;

/** What train and finetune share: resuming a run folder, running the job with Ctrl-C handling, and the closing summary. */
final class Runs {
    private Runs() {}

    /**
     * The request that continues the run in {@code dir} from its newest readable checkpoint. Flags that
     * would change what is computed are refused when their value differs from the run's; repeating the
     * run's own values is fine.
     *
     * @param model the model flags, or null (finetune has none)
     * @param moreChanges further given flags that differ from the checkpoint (finetune's --from, ...)
     */
    static TrainJob.Request resume(Path dir, Io io, CommonOptions common, ModelOptions model, TrainOptions train,
                                   DataOptions data, int keep, Function<Checkpoint, List<String>> moreChanges) {
        TrainJob.Resumable found = TrainJob.findResumable(dir, io.err()::println);
        Checkpoint ck = found.checkpoint();
        List<String> changed = new ArrayList<>(moreChanges.apply(ck));
        if (model != null) changed.addAll(model.changedFrom(ck.meta().model(), ck.meta().training().preset()));
        changed.addAll(train.changedMathFrom(ck.meta().training()));
        changed.addAll(data.changedFrom(ck.meta().data()));
        if (common.seed != null && common.seed != ck.meta().training().seed()) {
            changed.add(Changes.of("--seed", common.seed, ck.meta().training().seed()));
        }
        if (!changed.isEmpty()) {
            throw new IllegalArgumentException(String.join(", ", changed) + ": a resumed run keeps its checkpoint's settings "
                    + "(only --epochs, --steps and the cadences can change; start a new run with --force or another --out)");
        }
        return new TrainJob.Request(ck.meta().model(), train.apply(ck.meta().training(), null), data.relocate(ck.meta().data()),
                data.locator(), dir, ck, false, train.progress, null, ck.meta().finetunedFrom(), keep, found.file());
    }

    /** Runs the job with Ctrl-C stopping it cleanly, then prints the summary before letting the JVM go. */
    static void trainAndReport(Io io, org.ddpm4j.backend.Backend backend, TrainJob.Request req) {
        try (StopOnInterrupt interrupt = StopOnInterrupt.install(io.out(), io.err())) {
            summary(io, TrainJob.run(backend, req, io.err(), interrupt.signal(), io.startNanos()));
        }
    }

    static void summary(Io io, TrainJob.Result r) {
        if (r.stepsTrained() > 0) {
            var e = r.end();
            String where = e.position() == 0 ? "after epoch " + e.epoch() : "in epoch " + (e.epoch() + 1) + " at batch " + e.position();
            io.out().printf(Locale.ROOT, "trained %d steps in %s (global step %d, %s): loss %s -> %s (means of the first and last %d steps)%n",
                    r.stepsTrained(), Progress.duration(r.seconds()), e.globalStep(), where, LossFormat.of(r.firstLoss()),
                    LossFormat.of(r.lastLoss()), r.window());
            io.out().println(r.stopped() ? "ended by: a stop request (Ctrl-C)" : "ended by: " + r.endReason());
            if (Double.isFinite(r.steadyEpochImagesPerSecond())) {
                io.out().printf(Locale.ROOT, "speed: %.1f images/s over the epochs after the first (checkpoints included), "
                        + "%.1f in the training steps after warm-up%n", r.steadyEpochImagesPerSecond(), r.steadyImagesPerSecond());
            } else if (Double.isFinite(r.steadyImagesPerSecond())) {
                io.out().printf(Locale.ROOT, "speed: %.1f images/s in the training steps after warm-up%n", r.steadyImagesPerSecond());
            }
        }
        io.out().println("checkpoint: " + r.files().checkpoint());
        if (Files.exists(r.files().lossLog())) io.out().println("loss log: " + r.files().lossLog() + ", curve: " + r.files().lossPlot());
        if (Files.exists(r.files().runJson())) io.out().println("run summary: " + r.files().runJson());
        for (Path g : r.grids()) io.out().println("samples: " + g);
        io.out().println("next: ./ddpm sample --from " + r.files().checkpoint());
    }
}
