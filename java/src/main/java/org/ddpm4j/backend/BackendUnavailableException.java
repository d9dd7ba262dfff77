package org.ddpm4j.backend;

import org.ddpm4j.setting.SettingText;
import org.ddpm4j.setting.UserFacingException;

/** The requested backend cannot run here; the message says why in one line. */
public class BackendUnavailableException extends UserFacingException {
    public BackendUnavailableException(String message) {
        super(message, null);
    }

    public BackendUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }

    /** A message that names settings, e.g. {@code SettingText.of("...; use ", Setting.RESIZE, " to scale images")}. */
    public BackendUnavailableException(SettingText text) {
        super(text, null);
    }

    public BackendUnavailableException(SettingText text, Throwable cause) {
        super(text, cause);
    }
}
