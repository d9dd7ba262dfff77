package org.ddpm4j.sample;

/**
 * @param images the final x_0, clipped to [-1, 1]
 * @param mid every image after the reverse step at {@link SampleOptions#midStep}, or null
 * @param strip stripImages x frames images, image-major (image i's frames are consecutive), or null
 * @param stripTimes the t of each strip frame: timesteps for x_T, then the step after which it was read, 0 last
 */
public record SampleResult(Images images, Images mid, Images strip, int[] stripTimes) {}
