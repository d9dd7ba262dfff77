package org.ddpm4j.cli;

import org.ddpm4j.api.Trainer;
import org.ddpm4j.diffusion.NoiseSchedule;
import org.ddpm4j.diffusion.Prediction;
import org.ddpm4j.train.Preset;
import picocli.CommandLine.Option;

/** The model shape and schedule: a preset plus overrides, handed to the Trainer (which checks them). */
public final class ModelOptions {
    @Option(names = "--preset", paramLabel = "seed|tiny", converter = Converters.PresetConverter.class,
            description = "seed: the notebook's model and hyper-parameters (GPU); tiny: a small model that trains on a CPU in minutes (default: tiny).")
    Preset preset;

    @Option(names = "--base-width", paramLabel = "C", description = "Channels of the first level (seed 64, tiny 16).")
    Integer baseWidth;

    @Option(names = "--depth", paramLabel = "D", description = "Down/up steps (seed 4, tiny 2).")
    Integer depth;

    @Option(names = "--image-size", paramLabel = "PX", description = "Image height and width (default 32).")
    Integer imageSize;

    @Option(names = "--channels", paramLabel = "C", description = "Image channels, 3 (RGB) or 1 (grey) (default 3).")
    Integer channels;

    @Option(names = "--time-dim", paramLabel = "D", description = "Width of the time embedding (default 100).")
    Integer timeDim;

    @Option(names = "--timesteps", paramLabel = "T", description = "Diffusion steps (default 1000).")
    Integer timesteps;

    @Option(names = "--beta-start", paramLabel = "B", description = "First beta of the linear schedule (default 1e-4).")
    Float betaStart;

    @Option(names = "--beta-end", paramLabel = "B", description = "Last beta of the linear schedule (default 0.02).")
    Float betaEnd;

    @Option(names = "--schedule", paramLabel = "linear|cosine", converter = Converters.ScheduleConverter.class,
            description = "Noise schedule: linear betas (--beta-start..--beta-end, the notebook's) or cosine (Nichol & Dhariwal 2021, betas clipped at 0.999) (default linear).")
    NoiseSchedule schedule;

    @Option(names = "--prediction", paramLabel = "epsilon|v", converter = Converters.PredictionConverter.class,
            description = "What the network learns to predict: the noise (epsilon, the notebook's) or v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0 (Salimans & Ho 2022, diffusers' v_prediction) (default epsilon).")
    Prediction prediction;

    @Option(names = "--conditional",
            description = "Class-conditional model: a learned class embedding added to the time embedding, labels dropped to a null class with probability --cond-drop, so that sample --class NAME --guidance W draws any class.")
    boolean conditional;

    Preset presetOr(Preset fallback) {
        return preset != null ? preset : fallback;
    }

    /** Hands the flags given to the trainer: a new model's overrides, or values a resumed run must have. */
    void applyTo(Trainer t) {
        if (preset != null) t.preset(preset);
        if (baseWidth != null) t.baseWidth(baseWidth);
        if (depth != null) t.depth(depth);
        if (imageSize != null) t.imageSize(imageSize);
        if (channels != null) t.channels(channels);
        if (timeDim != null) t.timeDim(timeDim);
        if (timesteps != null) t.timesteps(timesteps);
        if (betaStart != null) t.betaStart(betaStart);
        if (betaEnd != null) t.betaEnd(betaEnd);
        if (schedule != null) t.schedule(schedule);
        if (prediction != null) t.prediction(prediction);
        if (conditional) t.conditional(true);
    }
}
