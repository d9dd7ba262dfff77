package org.ddpm4j.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.ddpm4j.api.Compute;
import org.ddpm4j.api.DiffusionModel;
import org.ddpm4j.api.LoadOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "export", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Export a checkpoint's weights to safetensors under the seed notebook's state_dict names",
                "(conv1.conv.0.weight, ..., time_embed.weight; F32, num_batches_tracked as I64),",
                "loadable by its PyTorch UNet with load_state_dict(strict=True); the EMA of the weights when the checkpoint keeps one",
                "(--weights). A class-conditional model adds class_embed.weight ((classes + 1) x time_dim; the notebook's UNet has none)."})
public final class ExportCommand implements Callable<Integer> {
    private final Io io;

    @Option(names = "--from", required = true, paramLabel = "CKPT", description = "A ddpm4j checkpoint (or a safetensors file, written again).")
    Path from;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "The safetensors file to write.")
    Path out;

    @Mixin WeightChoiceOptions choice;
    @Mixin DebugOption debug;

    ExportCommand(Io io) {
        this.io = io;
    }

    @Override
    public Integer call() {
        // Compute.cpu() is never opened: reading and writing weights happen on the host.
        try (DiffusionModel m = DiffusionModel.load(from, Compute.cpu(), LoadOptions.defaults().withWeights(choice.weights))) {
            m.exportSafetensors(out);
            io.out().println("exported " + from + " (" + m.info().weights().label() + " weights) to " + out);
        }
        return 0;
    }
}
