package org.ddpm4j.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.checkpoint.ModelState;
import org.ddpm4j.job.ModelFiles;
import org.ddpm4j.job.SampleJob;
import org.ddpm4j.sample.SampleOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "sample", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Draw images from a trained model by ancestral DDPM sampling (BatchNorm in eval mode, final images clipped to [-1, 1]).",
                "Writes OUT/samples.png (a 10x10 grid for 100 images), OUT/samples-t500.png (x at t = 500, the notebook's mid result; T/2 in general)",
                "and OUT/strip.png (a few images from x_T to x_0). The same --seed gives the same images."})
public final class SampleCommand implements Callable<Integer> {
    private final Io io;

    @Option(names = "--from", required = true, paramLabel = "FILE", description = "A ddpm4j checkpoint or a seed-format safetensors file.")
    Path from;

    @Option(names = "--out", paramLabel = "DIR", description = "Output folder (default: the model's folder/samples).")
    Path out;

    @Option(names = "--count", paramLabel = "N", defaultValue = "100", description = "Images to draw (default: ${DEFAULT-VALUE}).")
    int count;

    @Option(names = "--batch", paramLabel = "N", defaultValue = "100", description = "Images per device batch (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--mid-step", paramLabel = "T", description = "Also save every image at this t (default: T/2, i.e. 500); -1 = off.")
    Integer midStep;

    @Option(names = "--strip-images", paramLabel = "N", defaultValue = "8", description = "Images in the x_T..x_0 strip, 0 = no strip (default: ${DEFAULT-VALUE}).")
    int stripImages;

    @Option(names = "--strip-frames", paramLabel = "N", defaultValue = "11", description = "Frames per strip row (default: ${DEFAULT-VALUE}).")
    int stripFrames;

    @Option(names = "--force", description = "Replace the images of an earlier ddpm sample in --out (default: refuse).")
    boolean force;

    @Mixin WeightsOptions weights;
    @Mixin CommonOptions common;

    SampleCommand(Io io) {
        this.io = io;
    }

    @Override
    public Integer call() {
        if (batch < 1) throw new IllegalArgumentException("--batch must be >= 1, got " + batch);
        if (count < 1) throw new IllegalArgumentException("--count must be >= 1, got " + count);
        try (Backend be = common.openBackend()) {
            ModelState state = ModelFiles.load(be, from, weights.fallback()).state();
            state.requireFinite(from.toString());
            int T = state.config().timesteps();
            int mid = midStep != null ? midStep : T / 2;
            if (mid >= T || mid < -1) throw new IllegalArgumentException("--mid-step must be in [0, " + (T - 1) + "] or -1, got " + mid);
            SampleOptions o = new SampleOptions(count, common.seedOr(0), mid, stripImages, stripFrames);
            Path dir = out != null ? out : defaultOut(from);
            SampleJob.Result r = SampleJob.run(be, state, o, batch, dir, force, io.err());
            io.out().println("samples: " + r.images());
            if (r.mid() != null) io.out().println("mid (t=" + mid + "): " + r.mid());
            if (r.strip() != null) io.out().println("strip: " + r.strip());
        }
        return 0;
    }

    private static Path defaultOut(Path from) {
        Path parent = from.toAbsolutePath().normalize().getParent();
        return (parent != null ? parent : Path.of(".")).resolve("samples");
    }
}
