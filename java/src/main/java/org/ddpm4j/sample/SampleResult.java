package org.ddpm4j.sample;

/**
 * @param images the final x_0, clipped to [-1, 1] (the first {@code keep} of them, see {@link Sampler#run})
 * @param mid those images after the reverse step at {@link #midTime}, or null
 * @param strip stripImages x frames images, image-major (image i's frames are consecutive), or null
 * @param stripTimes the t of each strip frame: timesteps for x_T, then the step after which it was read, 0 last
 * @param midTime the t of the mid snapshot (the requested one, or with DDIM the visited t below it), or -1
 * @param timesteps the reverse steps taken, from T-1 (DDPM) or the first DDIM timestep down to 0
 */
public record SampleResult(Images images, Images mid, Images strip, int[] stripTimes, int midTime, int[] timesteps) {}
