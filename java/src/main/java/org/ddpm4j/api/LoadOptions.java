package org.ddpm4j.api;

import org.ddpm4j.checkpoint.Weights;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.setting.Setting;

/**
 * How to read a model file: which weights of a model that keeps an EMA, and what a safetensors file
 * without ddpm4j's metadata does not say (the image size and the linear betas; the shape, the time
 * table and the classes come from its tensors). Immutable; null fields take the defaults.
 *
 * @param weights EMA or RAW; null: the EMA when the file keeps one, else the raw weights (as the command line)
 * @param imageSize the image side of a safetensors model without metadata (default 32)
 * @param betaStart its first beta (default 1e-4)
 * @param betaEnd its last beta (default 0.02)
 */
public record LoadOptions(Weights weights, Integer imageSize, Float betaStart, Float betaEnd) {
    public LoadOptions {
        if (imageSize != null && imageSize < 2) throw Errors.invalid(Setting.IMAGE_SIZE, "must be >= 2, got " + imageSize);
        UNetConfig s = UNetConfig.seed();
        float b0 = betaStart != null ? betaStart : s.betaStart();
        float b1 = betaEnd != null ? betaEnd : s.betaEnd();
        if (!(b0 > 0 && b0 <= b1 && b1 < 1)) {
            throw Errors.invalid(Setting.BETA_START, "and ", Setting.BETA_END, " must satisfy 0 < start <= end < 1, got " + b0 + " and " + b1);
        }
    }

    /** The EMA when there is one; a safetensors file without metadata is a 32x32 model with betas 1e-4..0.02. */
    public static LoadOptions defaults() {
        return new LoadOptions(null, null, null, null);
    }

    public LoadOptions withWeights(Weights w) {
        return new LoadOptions(w, imageSize, betaStart, betaEnd);
    }

    public LoadOptions withImageSize(int px) {
        return new LoadOptions(weights, px, betaStart, betaEnd);
    }

    public LoadOptions withBetas(float start, float end) {
        return new LoadOptions(weights, imageSize, start, end);
    }

    /** The seed notebook's model with this image size and these betas: what a file without metadata is taken for. */
    UNetConfig fallback() {
        UNetConfig s = UNetConfig.seed();
        int px = imageSize != null ? imageSize : s.height();
        return new UNetConfig(s.inChannels(), px, px, s.baseWidth(), s.depth(), s.timeDim(), s.timesteps(),
                betaStart != null ? betaStart : s.betaStart(), betaEnd != null ? betaEnd : s.betaEnd());
    }
}
