package org.ddpm4j.checkpoint;

import java.util.Locale;
import org.ddpm4j.setting.Setting;

/**
 * Which parameters a command uses from a model that keeps an EMA: the exponential
 * moving average (what sample, export and finetune take by default when there is one)
 * or the raw parameters Adam trained.
 */
public enum Weights {
    EMA, RAW;

    public static Weights parse(String s) {
        return Setting.WEIGHTS.parse(s, values());
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
