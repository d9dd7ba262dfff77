package org.ddpm4j.diffusion;

import java.util.Locale;
import org.ddpm4j.setting.Setting;

/**
 * The beta schedule of the forward process (native Schedule, ddpm/unet.h).
 * LINEAR: betas from betaStart to betaEnd (the DDPM paper, the notebook).
 * COSINE: Nichol &amp; Dhariwal 2021, alpha_bar(t) = cos^2((t/T + 0.008) / 1.008 * pi/2)
 * normalised, betas clipped at 0.999; betaStart/betaEnd are then unused.
 */
public enum NoiseSchedule {
    LINEAR(0), COSINE(1);

    /** The native UNetConfig::schedule value. */
    public final int code;

    NoiseSchedule(int code) {
        this.code = code;
    }

    public static NoiseSchedule parse(String s) {
        return Setting.SCHEDULE.parse(s, values());
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
