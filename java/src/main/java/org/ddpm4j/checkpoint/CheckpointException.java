package org.ddpm4j.checkpoint;

import org.ddpm4j.setting.NamesSettings;
import org.ddpm4j.setting.SettingText;

/** A checkpoint or weights file that cannot be read or written; the message names the file and the problem. */
public class CheckpointException extends RuntimeException implements NamesSettings {
    private final transient SettingText settingText;

    public CheckpointException(String message) {
        super(message);
        this.settingText = null;
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
        this.settingText = null;
    }

    /** A message that names settings, e.g. {@code SettingText.of("...; use ", Setting.RESIZE, " to scale images")}. */
    public CheckpointException(SettingText text) {
        this(text, null);
    }

    public CheckpointException(SettingText text, Throwable cause) {
        super(text.toString(), cause);
        this.settingText = text;
    }

    @Override
    public SettingText settingText() {
        return settingText;
    }
}
