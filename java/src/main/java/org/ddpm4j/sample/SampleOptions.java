package org.ddpm4j.sample;

/**
 * @param count images to draw
 * @param seed sampling seed: image k's noise depends only on (seed, k)
 * @param midStep record every image after the reverse step at this t (the notebook's t == 500), or -1
 * @param stripImages images shown in the x_T..x_0 strip (from the first ones)
 * @param stripFrames columns of the strip, x_T first and x_0 last (at least 2)
 */
public record SampleOptions(int count, long seed, int midStep, int stripImages, int stripFrames) {
    public SampleOptions {
        if (count < 1) throw new IllegalArgumentException("--count must be >= 1, got " + count);
        if (stripImages < 0) throw new IllegalArgumentException("strip images must be >= 0");
        if (stripFrames < 2) throw new IllegalArgumentException("strip frames must be >= 2");
    }

    /** The notebook's 100 images and t = 500 snapshot (T/2 for other schedules), a strip of 8 images x 11 frames. */
    public static SampleOptions defaults(int timesteps, long seed) {
        return new SampleOptions(100, seed, timesteps / 2, 8, 11);
    }
}
