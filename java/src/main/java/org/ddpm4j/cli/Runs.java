package org.ddpm4j.cli;

import org.ddpm4j.api.Trainer;
import org.ddpm4j.api.TrainingResult;
import org.ddpm4j.setting.Setting;

/** What train and finetune share: the run with Ctrl-C handling, and the closing summary. */
final class Runs {
    private Runs() {}

    /**
     * Hands the common flags to the trainer, runs it with Ctrl-C stopping it cleanly, then prints the summary
     * before letting the JVM go.
     */
    static void trainAndReport(Io io, Trainer trainer, CommonOptions common, TrainOptions train) {
        train.applyTo(trainer);
        if (common.seed != null) trainer.seed(common.seed);
        trainer.compute(common.compute()).log(io.err(), Setting::flag).setupSince(io.startNanos());
        try (StopOnInterrupt interrupt = StopOnInterrupt.install(trainer::requestStop, io.out(), io.err())) {
            TrainingResult r = trainer.train();
            io.out().print(r.summary());
            io.out().println("next: ./ddpm sample --from " + r.checkpoint());
        }
    }
}
