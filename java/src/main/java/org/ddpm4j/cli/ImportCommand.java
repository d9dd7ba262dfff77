package org.ddpm4j.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.checkpoint.Checkpoint;
import org.ddpm4j.checkpoint.CheckpointFile;
import org.ddpm4j.checkpoint.CheckpointMeta;
import org.ddpm4j.checkpoint.Configs;
import org.ddpm4j.checkpoint.ModelState;
import org.ddpm4j.checkpoint.OptimizerState;
import org.ddpm4j.data.DataSpec;
import org.ddpm4j.data.Split;
import org.ddpm4j.job.ModelFiles;
import org.ddpm4j.train.Preset;
import org.ddpm4j.train.TrainingState;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "import", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Import seed-format safetensors weights (e.g. saved from the notebook's UNet) into a ddpm4j checkpoint,",
                "to sample or fine-tune here. Names and shapes are checked strictly; the model shape is read from the weights,",
                "and the time-embedding table travels with them (time_embed.weight is kept as is)."})
public final class ImportCommand implements Callable<Integer> {
    private final Io io;

    @Option(names = "--from", required = true, paramLabel = "FILE", description = "The safetensors file.")
    Path from;

    @Option(names = "--out", required = true, paramLabel = "CKPT", description = "The checkpoint to write.")
    Path out;

    @Option(names = "--force", description = "Overwrite --out if it exists.")
    boolean force;

    @Mixin WeightsOptions weights;
    @Mixin CommonOptions common;

    ImportCommand(Io io) {
        this.io = io;
    }

    @Override
    public Integer call() {
        if (Files.exists(out) && !force) throw new IllegalArgumentException(out + " already exists (pass --force to overwrite it)");
        ModelState state;
        try (Backend be = org.ddpm4j.binding.Backends.cpu(1)) {
            state = ModelFiles.readSafetensors(be, from, weights.fallback());
        }
        long n = state.params().length;
        CheckpointMeta meta = new CheckpointMeta(state.config(), Preset.SEED.settings().withPreset("imported")
                .withSeed(common.seedOr(0)), DataSpec.cifar(null, Split.TRAIN), 0, null);
        CheckpointFile.write(out, new Checkpoint(meta, state, new OptimizerState(new float[(int) (2 * n)], 0), TrainingState.START));
        io.out().println("imported " + from + " (" + Configs.describe(state.config()) + ", " + n + " parameters, "
                + state.timeTableKind().label() + " time table) to " + out);
        return 0;
    }
}
