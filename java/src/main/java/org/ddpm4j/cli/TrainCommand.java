package org.ddpm4j.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.job.TrainJob;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.train.Preset;
import org.ddpm4j.train.TrainSettings;
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

    @Option(names = "--resume", description = "Continue the run in --out from its checkpoint.")
    boolean resume;

    @Option(names = "--force", description = "Start over even if --out already holds a checkpoint.")
    boolean force;

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
        TrainJob.Request req;
        if (resume) {
            if (force) throw new IllegalArgumentException("--resume and --force contradict each other");
            req = Runs.resume(dir, io, common, model, train, data, train.keep, ck -> List.of());
        } else {
            UNetConfig cfg = model.resolve(Preset.TINY);
            TrainSettings s = train.apply(preset.settings(), common.seed);
            if (!model.given().isEmpty() && !model.given().equals(List.of("--preset"))) s = s.withPreset(preset.label() + "+custom");
            req = new TrainJob.Request(cfg, s, data.spec(), data.locator(), dir, null, force, train.progress, null, null,
                    train.keep, null);
        }
        try (Backend be = common.openBackend()) {
            Runs.trainAndReport(io, be, req);
        }
        return 0;
    }
}
