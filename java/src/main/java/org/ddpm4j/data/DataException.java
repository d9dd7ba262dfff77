package org.ddpm4j.data;

import org.ddpm4j.setting.SettingText;
import org.ddpm4j.setting.UserFacingException;

/** Data that cannot be used: the message names the file or folder and the problem, in one line. */
public class DataException extends UserFacingException {
    public DataException(String message) {
        super(message, null);
    }

    public DataException(String message, Throwable cause) {
        super(message, cause);
    }

    /** A message that names settings, e.g. {@code SettingText.of("...; use ", Setting.RESIZE, " to scale images")}. */
    public DataException(SettingText text) {
        super(text, null);
    }

    public DataException(SettingText text, Throwable cause) {
        super(text, cause);
    }
}
