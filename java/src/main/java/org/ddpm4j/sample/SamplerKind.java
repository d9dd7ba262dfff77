package org.ddpm4j.sample;

import java.util.Locale;
import org.ddpm4j.setting.Setting;

/**
 * How the reverse process is run. DDPM: ancestral sampling through every timestep (the
 * notebook's). DDIM: Song et al. 2021's update over evenly spaced timesteps, deterministic
 * at eta 0, as noisy as DDPM's posterior at eta 1.
 */
public enum SamplerKind {
    DDPM, DDIM;

    public static SamplerKind parse(String s) {
        return Setting.SAMPLER.parse(s, values());
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
