package org.ddpm4j.optim;

import java.util.Locale;
import org.ddpm4j.setting.Setting;

/**
 * Adam as torch.optim.Adam (a weight decay is an L2 term added to the gradient; the notebook's,
 * without decay), or AdamW as torch.optim.AdamW (Loshchilov &amp; Hutter: the weights shrink by
 * lr x weight decay before each step, apart from the gradient; diffusers' training scripts').
 */
public enum Optimizer {
    ADAM, ADAMW;

    public static Optimizer parse(String s) {
        return Setting.OPTIMIZER.parse(s, values());
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** As printed in logs: Adam, AdamW. */
    public String displayName() {
        return this == ADAM ? "Adam" : "AdamW";
    }
}
