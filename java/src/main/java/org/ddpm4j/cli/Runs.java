package org.ddpm4j.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.ddpm4j.checkpoint.Checkpoint;
import org.ddpm4j.checkpoint.CheckpointFile;
import org.ddpm4j.job.RunFiles;
import org.ddpm4j.job.TrainJob;
import org.ddpm4j.train.Progress;

/** What train and finetune share: resuming a run folder, and the closing summary. */
final class Runs {
    private Runs() {}

    static TrainJob.Request resume(Path dir, CommonOptions common, ModelOptions model, TrainOptions train, DataOptions data,
                                   List<String> alsoGiven) {
        List<String> bad = new ArrayList<>(alsoGiven);
        if (model != null) bad.addAll(model.given());
        bad.addAll(train.givenMath());
        bad.addAll(data.givenMath());
        if (common.seed != null) bad.add("--seed");
        if (!bad.isEmpty()) {
            throw new IllegalArgumentException(String.join(", ", bad) + (bad.size() == 1 ? " cannot" : " cannot")
                    + " change when resuming: the run keeps its checkpoint's settings (only --epochs, --steps and the cadences can)");
        }
        Path ckpt = new RunFiles(dir).checkpoint();
        if (!Files.exists(ckpt)) throw new IllegalArgumentException("nothing to resume: " + ckpt + " does not exist");
        Checkpoint ck = CheckpointFile.read(ckpt);
        return new TrainJob.Request(ck.meta().model(), train.apply(ck.meta().training(), null), data.relocate(ck.meta().data()),
                data.locator(), dir, ck, false, train.progress, null, ck.meta().finetunedFrom());
    }

    static void summary(Io io, TrainJob.Result r) {
        if (r.stepsTrained() > 0) {
            var e = r.end();
            String where = e.position() == 0 ? "after epoch " + e.epoch() : "in epoch " + (e.epoch() + 1) + " at batch " + e.position();
            io.out().printf(Locale.ROOT, "trained %d steps in %s (global step %d, %s): loss %.4f -> %.4f (means of the first and last %d steps)%n",
                    r.stepsTrained(), Progress.duration(r.seconds()), e.globalStep(), where, r.firstLoss(), r.lastLoss(), r.window());
        }
        io.out().println("checkpoint: " + r.files().checkpoint());
        if (Files.exists(r.files().lossLog())) io.out().println("loss log: " + r.files().lossLog() + ", curve: " + r.files().lossPlot());
        for (Path g : r.grids()) io.out().println("samples: " + g);
        io.out().println("next: ./ddpm sample --from " + r.files().checkpoint());
    }
}
