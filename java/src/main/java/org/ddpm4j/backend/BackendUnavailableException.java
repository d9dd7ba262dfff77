package org.ddpm4j.backend;

import org.ddpm4j.setting.NamesSettings;
import org.ddpm4j.setting.SettingText;

/** The requested backend cannot run here; the message says why in one line. */
public class BackendUnavailableException extends RuntimeException implements NamesSettings {
    private final transient SettingText settingText;

    public BackendUnavailableException(String message) {
        super(message);
        this.settingText = null;
    }

    public BackendUnavailableException(String message, Throwable cause) {
        super(message, cause);
        this.settingText = null;
    }

    /** A message that names settings, e.g. {@code SettingText.of("...; use ", Setting.RESIZE, " to scale images")}. */
    public BackendUnavailableException(SettingText text) {
        this(text, null);
    }

    public BackendUnavailableException(SettingText text, Throwable cause) {
        super(text.toString(), cause);
        this.settingText = text;
    }

    @Override
    public SettingText settingText() {
        return settingText;
    }
}
