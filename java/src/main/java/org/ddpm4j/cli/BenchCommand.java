package org.ddpm4j.cli;

import com.google.gson.JsonObject;
import java.util.concurrent.Callable;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.backend.Precision;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.train.Benchmark;
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
        Preset preset = model.presetOr(Preset.TINY);
        UNetConfig cfg = model.resolve(Preset.TINY);
        int b = batch != null ? batch : preset.settings().batch();
        if (b < 1) throw new IllegalArgumentException("--batch must be >= 1, got " + b);
        try (Backend be = common.openBackend(); UNet net = be.createUNet(cfg, b)) {
            long seed = common.seedOr(0);
            net.init(seed);
            if (preset.settings().timeTable() == TimeTable.NOTEBOOK) net.setTimeTable(TimeTable.notebook(cfg.timesteps(), cfg.timeDim()));
            Benchmark.Result r = Benchmark.run(net, b, warmup, iters, seed);
            JsonObject o = new JsonObject();
            o.addProperty("backend", be.name());
            o.addProperty("device", be.deviceName());
            // The CPU computes TF32 as float32.
            boolean cpuTf32 = !be.name().equals("cuda") && common.precision() == Precision.TF32;
            o.addProperty("precision", cpuTf32 ? "fp32" : common.precision().id());
            o.addProperty("threads", be.threads());
            o.addProperty("batch", b);
            o.addProperty("image", cfg.inChannels() + "x" + cfg.height() + "x" + cfg.width());
            o.addProperty("base_width", cfg.baseWidth());
            o.addProperty("depth", cfg.depth());
            o.addProperty("train_img_per_s", round(r.trainImagesPerSecond()));
            o.addProperty("forward_img_per_s", round(r.forwardImagesPerSecond()));
            o.addProperty("peak_memory_bytes", r.peakMemoryBytes());
            io.out().println(o);
        }
        return 0;
    }

    private static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }
}
