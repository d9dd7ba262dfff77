package org.ddpm4j.sample;

import org.ddpm4j.setting.Setting;

/**
 * @param count images to draw
 * @param seed sampling seed: image k's noise depends only on (seed, k)
 * @param midStep record every image after the reverse step at this t (the notebook's t == 500), or -1;
 *     with DDIM or DPM-Solver++, after the step at the largest visited t not above it
 * @param stripImages images shown in the x_T..x_0 strip (from the first ones)
 * @param stripFrames columns of the strip, x_T first and x_0 last (at least 2)
 * @param sampler DDPM (every timestep), DDIM or DPM-Solver++ (fewer steps)
 * @param steps DDIM steps (evenly spaced timesteps, 1..T) or DPM-Solver++ steps (1..T-1); 0 = the sampler's
 *     default ({@link SamplerKind#defaultSteps}); DDPM takes 0 or T
 * @param eta DDIM noise scale (0: deterministic; 1: the DDPM posterior's variance)
 * @param clipX0 clip the x_0 prediction to [-1, 1] at every step: DDIM as diffusers' clip_sample, DDPM
 *     through the posterior q(x_{t-1} | x_t, x_0) as improved-diffusion's clip_denoised, DPM-Solver++ the
 *     data prediction it integrates
 * @param classLabel for a class-conditional model: the class of every image, the null class for
 *     unconditional draws, or -1 for image k of class k mod classes
 * @param guidance classifier-free guidance scale w: eps = eps_null + w (eps_class - eps_null);
 *     1 = the conditional model alone, 0 = unconditional
 * @param karras DPM-Solver++ only: step between Karras et al.'s noise levels (diffusers'
 *     {@code use_karras_sigmas}, "DPM++ 2M Karras") instead of evenly spaced timesteps
 * @param spacing DDIM or DPM-Solver++: which timesteps they visit, as diffusers' timestep_spacing; null: the
 *     sampler's own (see {@link TimestepSpacing})
 * @param inpainting RePaint inpainting of a known image (null: none); it runs DDIM steps, so the sampler is DDIM,
 *     {@code steps} RePaint's (T // steps timesteps apart) and {@code eta} its noise
 * @param init image-to-image: the sampler's last steps from a given picture noised (null: from pure noise)
 */
public record SampleOptions(int count, long seed, int midStep, int stripImages, int stripFrames, SamplerKind sampler,
                            int steps, double eta, boolean clipX0, int classLabel, double guidance, boolean karras,
                            TimestepSpacing spacing, Inpainting inpainting, ImageToImage init) {

    /** The guidance of a conditional model unless asked otherwise. */
    public static final double DEFAULT_GUIDANCE = 2.0;

    public SampleOptions {
        if (count < 1) throw Setting.COUNT.invalid("must be >= 1, got " + count);
        if (stripImages < 0) throw new IllegalArgumentException("strip images must be >= 0");
        if (stripFrames < 2) throw new IllegalArgumentException("strip frames must be >= 2");
        if (sampler == null) throw new IllegalArgumentException("no sampler");
        if (steps < 0) throw Setting.SAMPLING_STEPS.invalid("must be >= 1, got " + steps);
        if (!(eta >= 0) || Double.isInfinite(eta)) throw Setting.ETA.invalid("must be a number >= 0, got " + eta);
        if (sampler != SamplerKind.DDIM && eta != 0) throw Setting.ETA.invalid("is for ", Setting.SAMPLER, " ddim");
        if (classLabel < -1) throw new IllegalArgumentException("class label must be >= 0 (or -1 = every class), got " + classLabel);
        if (!Double.isFinite(guidance)) throw Setting.GUIDANCE.invalid("must be a number, got " + guidance);
        if (karras && !sampler.isDpmSolver()) {
            throw Setting.KARRAS.invalid("is for ", Setting.SAMPLER, " dpm++, dpm++sde or dpm++3m, not " + sampler.label());
        }
        if (spacing != null && sampler == SamplerKind.DDPM) {
            throw Setting.TIMESTEP_SPACING.invalid("is for ", Setting.SAMPLER, " ddim or the dpm++ ones (ddpm visits every timestep)");
        }
        if (spacing != null && karras) throw Setting.TIMESTEP_SPACING.invalid("and ", Setting.KARRAS, " exclude each other");
        if (inpainting != null && (sampler != SamplerKind.DDIM || spacing != null)) {
            throw Setting.INPAINT.invalid("runs RePaint's own DDIM steps: not with ", Setting.SAMPLER, " " + sampler.label()
                    + (spacing != null ? " or a timestep spacing" : ""));
        }
        if (init != null && inpainting != null) throw Setting.INIT.invalid("and ", Setting.INPAINT, " exclude each other");
        if (init != null && karras) throw Setting.INIT.invalid("and ", Setting.KARRAS, " exclude each other");
    }

    /** Without inpainting. */
    public SampleOptions(int count, long seed, int midStep, int stripImages, int stripFrames, SamplerKind sampler,
                         int steps, double eta, boolean clipX0, int classLabel, double guidance, boolean karras,
                         TimestepSpacing spacing) {
        this(count, seed, midStep, stripImages, stripFrames, sampler, steps, eta, clipX0, classLabel, guidance, karras,
                spacing, null, null);
    }

    /** Ancestral DDPM sampling through every timestep, classes cycled, the default guidance. */
    public SampleOptions(int count, long seed, int midStep, int stripImages, int stripFrames) {
        this(count, seed, midStep, stripImages, stripFrames, SamplerKind.DDPM, 0, 0.0, false, -1, DEFAULT_GUIDANCE, false, null);
    }

    /** The notebook's 100 images and t = 500 snapshot (T/2 for other schedules), a strip of 8 images x 11 frames. */
    public static SampleOptions defaults(int timesteps, long seed) {
        return new SampleOptions(100, seed, timesteps / 2, 8, 11);
    }

    /** With another sampler (Karras levels off, its own timesteps). */
    public SampleOptions withSampler(SamplerKind kind, int samplingSteps, double noise, boolean clip) {
        return new SampleOptions(count, seed, midStep, stripImages, stripFrames, kind, samplingSteps, noise, clip, classLabel,
                guidance, false, null, inpainting, init);
    }

    public SampleOptions withClass(int label, double w) {
        return new SampleOptions(count, seed, midStep, stripImages, stripFrames, sampler, steps, eta, clipX0, label, w,
                karras, spacing, inpainting, init);
    }

    /** With the DPM-Solver++ sampler stepping between Karras sigmas (or not). */
    public SampleOptions withKarras(boolean on) {
        return new SampleOptions(count, seed, midStep, stripImages, stripFrames, sampler, steps, eta, clipX0, classLabel,
                guidance, on, spacing, inpainting, init);
    }

    /** With DDIM or DPM-Solver++ visiting the timesteps of {@code s} (null: the sampler's own). */
    public SampleOptions withSpacing(TimestepSpacing s) {
        return new SampleOptions(count, seed, midStep, stripImages, stripFrames, sampler, steps, eta, clipX0, classLabel,
                guidance, karras, s, inpainting, init);
    }

    /** Without the mid-run snapshot and the strip (only the final images). */
    public SampleOptions finalsOnly() {
        return new SampleOptions(count, seed, -1, 0, 2, sampler, steps, eta, clipX0, classLabel, guidance, karras, spacing,
                inpainting, init);
    }

    /**
     * RePaint inpainting of {@code in} (null: none), as DDIM steps: {@code samplingSteps} of them (0: RePaint's 250,
     * at most T), noise {@code noise} (RePaint's eta).
     */
    public SampleOptions withInpainting(Inpainting in, int samplingSteps, double noise) {
        return new SampleOptions(count, seed, midStep, stripImages, stripFrames, SamplerKind.DDIM, samplingSteps, noise,
                clipX0, classLabel, guidance, false, null, in, init);
    }

    /** Image-to-image from {@code from} (null: from pure noise), with the options' sampler. */
    public SampleOptions withInit(ImageToImage from) {
        return new SampleOptions(count, seed, midStep, stripImages, stripFrames, sampler, steps, eta, clipX0, classLabel,
                guidance, karras, spacing, inpainting, from);
    }
}
