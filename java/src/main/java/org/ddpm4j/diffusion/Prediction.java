package org.ddpm4j.diffusion;

import java.util.Locale;
import org.ddpm4j.setting.Setting;

/**
 * What the network is trained to predict (native ddpm::Prediction, ddpm/unet.h). EPSILON: the
 * noise (the DDPM paper's, the notebook's). V: v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0
 * (Salimans &amp; Ho 2022; diffusers' {@code prediction_type="v_prediction"}); the samplers turn it
 * into eps = sqrt(alpha_bar_t) v + sqrt(1 - alpha_bar_t) x_t.
 */
public enum Prediction {
    EPSILON(0), V(1);

    /** The native UNetConfig::prediction value. */
    public final int code;

    Prediction(int code) {
        this.code = code;
    }

    public static Prediction parse(String s) {
        return Setting.PREDICTION.parse(s, values());
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
