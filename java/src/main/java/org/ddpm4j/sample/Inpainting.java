package org.ddpm4j.sample;

import org.ddpm4j.setting.Setting;

/**
 * What RePaint (Lugmayr et al. 2022) inpaints, as Hugging Face diffusers' {@code RePaintPipeline}: M known
 * images, and where each is known; sampled image k inpaints known image k mod M. Every sampled image keeps the known pixels (taken, at each step,
 * from the known image noised to the step's level) and paints the rest; {@link Sampler} runs the
 * {@link Sampler#repaintTimesteps RePaint schedule}: DDIM steps (clipping the x_0 prediction to [-1, 1],
 * diffusers' {@code clip_sample} default) that jump back {@code jumpLength} steps by re-noising,
 * {@code jumpSamples} times at every {@code jumpLength}-th step, so that the painted part is harmonised
 * with the known one.
 *
 * @param known the known images, M x C x H x W values in [-1, 1]
 * @param keep where they are kept, M x C x H x W values in [0, 1] (1: the known pixel, 0: painted)
 * @param jumpLength RePaint's jump length j (diffusers' {@code jump_length}, default 10)
 * @param jumpSamples how often each jump is made, r (diffusers' {@code jump_n_sample}, default 10; 1: no jumps)
 */
public record Inpainting(float[] known, float[] keep, int jumpLength, int jumpSamples) {
    /** diffusers' RePaintPipeline defaults. */
    public static final int DEFAULT_JUMP_LENGTH = 10, DEFAULT_JUMP_SAMPLES = 10, DEFAULT_STEPS = 250;
    /**
     * The steps' noise unless asked otherwise: 1, the DDPM posterior's, as the RePaint paper samples (diffusers'
     * pipeline defaults to 0, deterministic DDIM, which a weak model paints as speckled noise).
     */
    public static final double DEFAULT_ETA = 1.0;

    public Inpainting {
        if (known == null || keep == null) throw new IllegalArgumentException("inpainting needs a known image and a mask");
        if (known.length != keep.length) {
            throw new IllegalArgumentException("the known image has " + known.length + " values, the mask " + keep.length);
        }
        for (int i = 0; i < known.length; i++) {
            if (!(known[i] >= -1 && known[i] <= 1)) throw new IllegalArgumentException("known value " + i + " is outside [-1, 1]: " + known[i]);
            if (!(keep[i] >= 0 && keep[i] <= 1)) throw new IllegalArgumentException("mask value " + i + " is outside [0, 1]: " + keep[i]);
        }
        if (jumpLength < 1) throw Setting.JUMP_LENGTH.invalid("must be >= 1, got " + jumpLength);
        if (jumpSamples < 1) throw Setting.JUMP_SAMPLES.invalid("must be >= 1, got " + jumpSamples);
    }

    /** The share of the image kept (the mean of keep). */
    public double keptShare() {
        double s = 0;
        for (float k : keep) s += k;
        return keep.length == 0 ? 0 : s / keep.length;
    }
}
