package org.ddpm4j.cli;

import java.util.ArrayList;
import java.util.List;
import org.ddpm4j.diffusion.NoiseSchedule;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.train.Preset;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/** The model shape and schedule: a preset plus overrides. */
public final class ModelOptions {
    @Option(names = "--preset", paramLabel = "seed|tiny", converter = PresetConverter.class,
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

    @Option(names = "--schedule", paramLabel = "linear|cosine", converter = ScheduleConverter.class,
            description = "Noise schedule: linear betas (--beta-start..--beta-end, the notebook's) or cosine (Nichol & Dhariwal 2021, betas clipped at 0.999) (default linear).")
    NoiseSchedule schedule;

    @Option(names = "--conditional",
            description = "Class-conditional model: a learned class embedding added to the time embedding, labels dropped to a null class with probability --cond-drop, so that sample --class NAME --guidance W draws any class.")
    boolean conditional;

    Preset presetOr(Preset fallback) {
        return preset != null ? preset : fallback;
    }

    /** The preset's model with the given overrides, checked. */
    UNetConfig resolve(Preset fallback) {
        return apply(presetOr(fallback).model());
    }

    UNetConfig apply(UNetConfig c) {
        int ch = channels != null ? channels : c.inChannels();
        int hw = imageSize != null ? imageSize : c.height();
        int w = imageSize != null ? imageSize : c.width();
        UNetConfig r = new UNetConfig(ch, hw, w, baseWidth != null ? baseWidth : c.baseWidth(),
                depth != null ? depth : c.depth(), timeDim != null ? timeDim : c.timeDim(),
                timesteps != null ? timesteps : c.timesteps(), betaStart != null ? betaStart : c.betaStart(),
                betaEnd != null ? betaEnd : c.betaEnd(), schedule != null ? schedule : c.schedule(),
                conditional ? UNetConfig.CLASSES_FROM_DATA : c.numClasses());
        check(r);
        return r;
    }

    /** Flag-level checks, so mistakes are named by their flag before anything is loaded. */
    static void check(UNetConfig c) {
        if (c.inChannels() != 1 && c.inChannels() != 3) throw new IllegalArgumentException("--channels must be 1 or 3, got " + c.inChannels());
        if (c.depth() < 1 || c.depth() > 8) throw new IllegalArgumentException("--depth must be in [1, 8], got " + c.depth());
        if (c.baseWidth() < 1 || ((long) c.baseWidth() << c.depth()) > 65536) {
            throw new IllegalArgumentException("--base-width must be >= 1 with base-width * 2^depth <= 65536, got " + c.baseWidth());
        }
        if (c.height() < (1 << c.depth())) {
            throw new IllegalArgumentException("--image-size must be at least 2^depth = " + (1 << c.depth()) + ", got " + c.height());
        }
        if (c.timeDim() < 2) throw new IllegalArgumentException("--time-dim must be >= 2, got " + c.timeDim());
        if (c.timesteps() < 2) throw new IllegalArgumentException("--timesteps must be >= 2, got " + c.timesteps());
        if (!(c.betaStart() > 0 && c.betaStart() <= c.betaEnd() && c.betaEnd() < 1)) {
            throw new IllegalArgumentException("--beta-start and --beta-end must satisfy 0 < start <= end < 1, got "
                    + c.betaStart() + " and " + c.betaEnd());
        }
    }

    /**
     * The given flags whose values differ from a run's recorded model and preset, each as
     * "--flag VALUE (the run has RECORDED)"; a resumed run accepts repeating its own values.
     */
    List<String> changedFrom(UNetConfig c, String recordedPreset) {
        List<String> out = new ArrayList<>();
        String base = recordedPreset == null ? "" : recordedPreset.replace("+custom", "");
        if (preset != null && !preset.label().equals(base)) out.add(Changes.of("--preset", preset.label(), recordedPreset));
        Changes.add(out, "--base-width", baseWidth, c.baseWidth());
        Changes.add(out, "--depth", depth, c.depth());
        if (imageSize != null && (imageSize != c.height() || imageSize != c.width())) {
            out.add(Changes.of("--image-size", imageSize, c.height() + (c.height() == c.width() ? "" : "x" + c.width())));
        }
        Changes.add(out, "--channels", channels, c.inChannels());
        Changes.add(out, "--time-dim", timeDim, c.timeDim());
        Changes.add(out, "--timesteps", timesteps, c.timesteps());
        Changes.add(out, "--beta-start", betaStart, c.betaStart());
        Changes.add(out, "--beta-end", betaEnd, c.betaEnd());
        return out;
    }

    /** The flags given on the command line. */
    List<String> given() {
        List<String> g = new ArrayList<>();
        if (preset != null) g.add("--preset");
        if (baseWidth != null) g.add("--base-width");
        if (depth != null) g.add("--depth");
        if (imageSize != null) g.add("--image-size");
        if (channels != null) g.add("--channels");
        if (timeDim != null) g.add("--time-dim");
        if (timesteps != null) g.add("--timesteps");
        if (betaStart != null) g.add("--beta-start");
        if (betaEnd != null) g.add("--beta-end");
        if (schedule != null) g.add("--schedule");
        if (conditional) g.add("--conditional");
        return g;
    }

    /** picocli converter for --schedule. */
    public static final class ScheduleConverter implements ITypeConverter<NoiseSchedule> {
        @Override
        public NoiseSchedule convert(String value) {
            try {
                return NoiseSchedule.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    /** picocli converter for --preset. */
    public static final class PresetConverter implements ITypeConverter<Preset> {
        @Override
        public Preset convert(String value) {
            try {
                return Preset.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }
}
