package org.ddpm4j.cli;

import com.google.gson.JsonObject;
import java.util.concurrent.Callable;
import org.ddpm4j.api.BenchmarkResult;
import org.ddpm4j.api.Trainer;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.train.Preset;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Time the training step and the sampling forward pass (one reverse step: eval forward + update) of a model after warm-up.",
                "Prints one JSON line: backend, device, precision, threads, batch, image, base_width, depth, train_img_per_s, forward_img_per_s, peak_memory_bytes."})
public final class BenchCommand implements Callable<Integer> {
    private final Io io;

    @Option(names = "--batch", paramLabel = "N", description = "Batch size (default: the preset's).")
    Integer batch;

    @Option(names = "--warmup", paramLabel = "N", defaultValue = "2", description = "Untimed iterations first (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--iters", paramLabel = "N", defaultValue = "5", description = "Timed iterations (default: ${DEFAULT-VALUE}).")
    int iters;

    @Mixin ModelOptions model;
    @Mixin CommonOptions common;

    BenchCommand(Io io) {
        this.io = io;
    }

    @Override
    public Integer call() {
        Trainer setup = Trainer.newModel(model.presetOr(Preset.TINY)).seed(common.seedOr(0)).compute(common.compute());
        model.applyTo(setup);
        if (batch != null) setup.batch(batch);
        BenchmarkResult r = setup.benchmark(warmup, iters);
        UNetConfig cfg = r.config();
        JsonObject o = new JsonObject();
        o.addProperty("backend", r.backend());
        o.addProperty("device", r.device());
        o.addProperty("precision", r.precision());
        o.addProperty("threads", r.threads());
        o.addProperty("batch", r.batch());
        o.addProperty("image", cfg.inChannels() + "x" + cfg.height() + "x" + cfg.width());
        o.addProperty("base_width", cfg.baseWidth());
        o.addProperty("depth", cfg.depth());
        o.addProperty("train_img_per_s", round(r.trainImagesPerSecond()));
        o.addProperty("forward_img_per_s", round(r.forwardImagesPerSecond()));
        o.addProperty("peak_memory_bytes", r.peakMemoryBytes());
        io.out().println(o);
        return 0;
    }

    private static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }
}
