package org.ddpm4j.sample;

import org.ddpm4j.setting.Setting;

/**
 * Image-to-image (SDEdit, Meng et al. 2022), as Hugging Face diffusers' img2img pipelines: sampling starts
 * from {@code init} noised to a timestep part of the way along the sampler's schedule, and runs the
 * sampler's remaining steps, so that every image keeps the picture's layout and colours and the model
 * redraws its detail. {@code strength} is that part, as diffusers': of S steps, the last
 * {@code floor(S * strength)} are run, from the first of them (1: from pure noise at the schedule's top,
 * the picture all but forgotten; near 0: the picture barely changed).
 *
 * @param init the starting images, M x C x H x W values in [-1, 1]: sampled image k starts from picture k mod M
 * @param strength in (0, 1]
 */
public record ImageToImage(float[] init, double strength) {
    /**
     * The strength unless asked otherwise: 0.3. diffusers' img2img default, 0.8, suits Stable Diffusion's latents;
     * on a pixel model's linear schedule the picture keeps sqrt(alpha_bar) of its amplitude, 0.63 at t = 0.3 T but
     * 0.04 at 0.8 T (the tiny preset redrew a horse as a horse at 0.2 and lost it by 0.35).
     */
    public static final double DEFAULT_STRENGTH = 0.3;

    public ImageToImage {
        if (init == null) throw new IllegalArgumentException("image-to-image needs a starting image");
        for (int i = 0; i < init.length; i++) {
            if (!(init[i] >= -1 && init[i] <= 1)) throw new IllegalArgumentException("init value " + i + " is outside [-1, 1]: " + init[i]);
        }
        if (!(strength > 0 && strength <= 1)) throw Setting.STRENGTH.invalid("must be in (0, 1], got " + strength);
    }

    /** The steps of a schedule of {@code steps} that are run: floor(steps * strength), as diffusers. */
    public int stepsRun(int steps) {
        return (int) Math.min(steps, Math.floor(steps * strength));
    }
}
