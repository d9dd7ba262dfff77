package org.ddpm4j.train;

import org.ddpm4j.setting.SettingText;
import org.ddpm4j.setting.UserFacingException;

/**
 * Training produced a non-finite loss (or non-finite weights): continuing would only
 * spread NaNs, and a checkpoint written now would be useless. The run stops without
 * writing one, so the last good checkpoint stays as it was.
 */
public final class TrainingDivergedException extends UserFacingException {
    private final long step;

    public TrainingDivergedException(long step, String message) {
        super(message, null);
        this.step = step;
    }

    /** A message that names settings (the learning rate to lower). */
    public TrainingDivergedException(long step, SettingText text) {
        super(text, null);
        this.step = step;
    }

    /** The step whose loss (or the weights after which) was not finite. */
    public long step() {
        return step;
    }
}
