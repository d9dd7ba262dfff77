package org.ddpm4j.api;

import java.util.ArrayList;
import java.util.List;
import org.ddpm4j.diffusion.NoiseSchedule;
import org.ddpm4j.diffusion.Prediction;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.setting.SettingText;
import org.ddpm4j.train.Preset;

/**
 * A {@link Trainer}'s model: a preset, optionally a whole configuration, and single values over
 * them; each unset value comes from what lies below. A new run resolves it; a resumed one compares
 * each value given with the run's.
 */
final class ModelChoice {
    Preset preset;
    UNetConfig whole;
    Integer baseWidth;
    Integer depth;
    Integer imageSize;
    Integer channels;
    Integer timeDim;
    Integer timesteps;
    Float betaStart;
    Float betaEnd;
    NoiseSchedule schedule;
    Boolean conditional;
    Prediction prediction;

    Preset presetOr(Preset fallback) {
        return preset != null ? preset : fallback;
    }

    /** The preset's model (or the whole configuration) with the single values over it, checked. */
    UNetConfig resolve(Preset fallback) {
        UNetConfig c = whole != null ? whole : presetOr(fallback).model();
        int hw = imageSize != null ? imageSize : c.height();
        int w = imageSize != null ? imageSize : c.width();
        int classes = conditional == null ? c.numClasses() : conditional ? UNetConfig.CLASSES_FROM_DATA : 0;
        UNetConfig r = new UNetConfig(channels != null ? channels : c.inChannels(), hw, w,
                baseWidth != null ? baseWidth : c.baseWidth(), depth != null ? depth : c.depth(),
                timeDim != null ? timeDim : c.timeDim(), timesteps != null ? timesteps : c.timesteps(),
                betaStart != null ? betaStart : c.betaStart(), betaEnd != null ? betaEnd : c.betaEnd(),
                schedule != null ? schedule : c.schedule(), classes, prediction != null ? prediction : c.prediction());
        check(r);
        return r;
    }

    /** The checks of the command line's flags, so mistakes are named by their setting before anything is loaded. */
    static void check(UNetConfig c) {
        if (c.inChannels() != 1 && c.inChannels() != 3) throw Errors.invalid(Setting.CHANNELS, "must be 1 or 3, got " + c.inChannels());
        if (c.depth() < 1 || c.depth() > 8) throw Errors.invalid(Setting.DEPTH, "must be in [1, 8], got " + c.depth());
        if (c.baseWidth() < 1 || ((long) c.baseWidth() << c.depth()) > 65536) {
            throw Errors.invalid(Setting.BASE_WIDTH, "must be >= 1 with base width * 2^depth <= 65536, got " + c.baseWidth());
        }
        if (c.height() < (1 << c.depth()) || c.width() < (1 << c.depth())) {
            throw Errors.invalid(Setting.IMAGE_SIZE, "must be at least 2^depth = " + (1 << c.depth()) + ", got "
                    + Math.min(c.height(), c.width()));
        }
        if (c.timeDim() < 2) throw Errors.invalid(Setting.TIME_DIM, "must be >= 2, got " + c.timeDim());
        if (c.timesteps() < 2) throw Errors.invalid(Setting.TIMESTEPS, "must be >= 2, got " + c.timesteps());
        if (!(c.betaStart() > 0 && c.betaStart() <= c.betaEnd() && c.betaEnd() < 1)) {
            throw Errors.invalid(Setting.BETA_START, "and ", Setting.BETA_END, " must satisfy 0 < start <= end < 1, got "
                    + c.betaStart() + " and " + c.betaEnd());
        }
    }

    /** Whether anything but the preset was chosen (the run's preset is then recorded as "PRESET+custom"). */
    boolean customised() {
        return !given().isEmpty() && !given().equals(List.of(Setting.PRESET));
    }

    /** The settings chosen. */
    List<Setting> given() {
        List<Setting> g = new ArrayList<>();
        if (preset != null) g.add(Setting.PRESET);
        if (whole != null) g.add(Setting.MODEL);
        if (baseWidth != null) g.add(Setting.BASE_WIDTH);
        if (depth != null) g.add(Setting.DEPTH);
        if (imageSize != null) g.add(Setting.IMAGE_SIZE);
        if (channels != null) g.add(Setting.CHANNELS);
        if (timeDim != null) g.add(Setting.TIME_DIM);
        if (timesteps != null) g.add(Setting.TIMESTEPS);
        if (betaStart != null) g.add(Setting.BETA_START);
        if (betaEnd != null) g.add(Setting.BETA_END);
        if (schedule != null) g.add(Setting.SCHEDULE);
        if (conditional != null) g.add(Setting.CONDITIONAL);
        if (prediction != null) g.add(Setting.PREDICTION);
        return g;
    }

    /**
     * The values chosen that differ from a run's recorded model and preset, each as "SETTING VALUE (the run has
     * RECORDED)"; a resumed run accepts its own values.
     */
    List<SettingText> changedFrom(UNetConfig c, String recordedPreset) {
        List<SettingText> out = new ArrayList<>();
        String base = recordedPreset == null ? "" : recordedPreset.replace("+custom", "");
        if (preset != null && !preset.label().equals(base)) out.add(Changes.of(Setting.PRESET, preset.label(), recordedPreset));
        Changes.add(out, Setting.BASE_WIDTH, pick(baseWidth, w -> w.baseWidth()), c.baseWidth());
        Changes.add(out, Setting.DEPTH, pick(depth, w -> w.depth()), c.depth());
        Integer px = imageSize != null ? imageSize : whole != null && whole.height() == whole.width() ? (Integer) whole.height() : null;
        if (px != null && (px != c.height() || px != c.width())) {
            out.add(Changes.of(Setting.IMAGE_SIZE, px, c.height() + (c.height() == c.width() ? "" : "x" + c.width())));
        }
        Changes.add(out, Setting.CHANNELS, pick(channels, w -> w.inChannels()), c.inChannels());
        Changes.add(out, Setting.TIME_DIM, pick(timeDim, w -> w.timeDim()), c.timeDim());
        Changes.add(out, Setting.TIMESTEPS, pick(timesteps, w -> w.timesteps()), c.timesteps());
        Changes.add(out, Setting.BETA_START, pick(betaStart, w -> w.betaStart()), c.betaStart());
        Changes.add(out, Setting.BETA_END, pick(betaEnd, w -> w.betaEnd()), c.betaEnd());
        NoiseSchedule s = pick(schedule, w -> w.schedule());
        if (s != null && s != c.schedule()) out.add(Changes.of(Setting.SCHEDULE, s.label(), c.schedule().label()));
        Prediction p = pick(prediction, w -> w.prediction());
        if (p != null && p != c.prediction()) out.add(Changes.of(Setting.PREDICTION, p.label(), c.prediction().label()));
        Boolean cond = pick(conditional, w -> w.conditional());
        if (cond != null && cond != c.conditional()) {
            out.add(SettingText.of(cond ? Setting.CONDITIONAL : "an unconditional model", " (the run's model is "
                    + (c.conditional() ? "conditional on " + c.numClasses() + " classes" : "unconditional") + ")"));
        }
        return out;
    }

    /** The single value if chosen, else the whole configuration's if one was given, else null. */
    private <T> T pick(T single, java.util.function.Function<UNetConfig, T> ofWhole) {
        return single != null ? single : whole != null ? ofWhole.apply(whole) : null;
    }
}
