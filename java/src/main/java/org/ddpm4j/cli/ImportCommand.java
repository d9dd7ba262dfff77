package org.ddpm4j.cli;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.ddpm4j.api.Compute;
import org.ddpm4j.api.DiffusionModel;
import org.ddpm4j.api.ModelInfo;
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
    @Mixin DebugOption debug;

    ImportCommand(Io io) {
        this.io = io;
    }

    @Override
    public Integer call() {
        // Compute.cpu() is never opened: reading and writing weights happen on the host.
        try (DiffusionModel m = DiffusionModel.load(from, Compute.cpu(), weights.loadOptions(null))) {
            m.saveCheckpoint(out, force);
            ModelInfo i = m.info();
            io.out().println(String.format(Locale.ROOT, "imported %s (%s, %,d parameters, %s time table) to %s", from,
                    i.describe(), i.parameters(), i.timeTable().label(), out));
        }
        return 0;
    }
}
