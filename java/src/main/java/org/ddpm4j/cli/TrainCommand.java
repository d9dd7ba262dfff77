package org.ddpm4j.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.ddpm4j.api.InvalidInputException;
import org.ddpm4j.api.Trainer;
import org.ddpm4j.train.Preset;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Train a DDPM UNet from scratch (or resume a run).",
                "Writes OUT/model.ckpt (every epoch and at the end), OUT/loss.jsonl, OUT/loss.png and OUT/samples/epoch-NNN.png.",
                "Ctrl-C stops after the current step and saves a checkpoint; continue with --resume."})
public final class TrainCommand implements Callable<Integer> {
    private final Io io;

    @Option(names = "--out", paramLabel = "DIR", description = "Run folder (default: runs/<preset>).")
    Path out;

    @ArgGroup(exclusive = true)
    StartOptions start;

    @Mixin ModelOptions model;
    @Mixin TrainOptions train;
    @Mixin DataOptions data;
    @Mixin CommonOptions common;

    TrainCommand(Io io) {
        this.io = io;
    }

    @Override
    public Integer call() {
        Preset preset = model.presetOr(Preset.TINY);
        Path dir = out != null ? out : Path.of("runs", preset.label());
        Trainer t;
        if (StartOptions.resume(start)) {
            t = Trainer.resume(dir).data(data.toData(data.source != null));
        } else {
            t = Trainer.newModel(preset).outputDir(dir).force(StartOptions.force(start)).data(data.toData(true));
        }
        model.applyTo(t);
        Runs.trainAndReport(io, t, common, train);
        return 0;
    }
}
