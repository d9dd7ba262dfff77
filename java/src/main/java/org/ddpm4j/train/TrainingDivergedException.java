package org.ddpm4j.train;

import org.ddpm4j.setting.NamesSettings;
import org.ddpm4j.setting.SettingText;

/**
 * Training produced a non-finite loss (or non-finite weights): continuing would only
 * spread NaNs, and a checkpoint written now would be useless. The run stops without
 * writing one, so the last good checkpoint stays as it was.
 */
public final class TrainingDivergedException extends RuntimeException implements NamesSettings {
    private final long step;
    private final transient SettingText settingText;

    public TrainingDivergedException(long step, String message) {
        super(message);
        this.step = step;
        this.settingText = null;
    }

    /** A message that names settings (the learning rate to lower). */
    public TrainingDivergedException(long step, SettingText text) {
        super(text.toString());
        this.step = step;
        this.settingText = text;
    }

    @Override
    public SettingText settingText() {
        return settingText;
    }

    /** The step whose loss (or the weights after which) was not finite. */
    public long step() {
        return step;
    }
}
