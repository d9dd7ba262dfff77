package org.ddpm4j.model;

/**
 * The noise levels a sampler steps through when they are not the model's own timesteps (Karras
 * sigmas): level i is sigma = sqrt((1 - alpha_bar) / alpha_bar), diffusers' sigma, and the model
 * sees it as timestep {@code timesteps[i]} (rounded, so two levels may share one).
 *
 * @param sigmas the levels, descending
 * @param timesteps the model timestep of each level
 */
public record NoiseLevels(double[] sigmas, int[] timesteps) {
    public NoiseLevels {
        if (sigmas.length != timesteps.length) {
            throw new IllegalArgumentException(sigmas.length + " noise levels but " + timesteps.length + " timesteps");
        }
    }

    public int size() {
        return sigmas.length;
    }
}
