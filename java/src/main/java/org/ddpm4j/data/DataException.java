package org.ddpm4j.data;

import org.ddpm4j.setting.NamesSettings;
import org.ddpm4j.setting.SettingText;

/** Data that cannot be used: the message names the file or folder and the problem, in one line. */
public class DataException extends RuntimeException implements NamesSettings {
    private final transient SettingText settingText;

    public DataException(String message) {
        super(message);
        this.settingText = null;
    }

    public DataException(String message, Throwable cause) {
        super(message, cause);
        this.settingText = null;
    }

    /** A message that names settings, e.g. {@code SettingText.of("...; use ", Setting.RESIZE, " to scale images")}. */
    public DataException(SettingText text) {
        this(text, null);
    }

    public DataException(SettingText text, Throwable cause) {
        super(text.toString(), cause);
        this.settingText = text;
    }

    @Override
    public SettingText settingText() {
        return settingText;
    }
}
