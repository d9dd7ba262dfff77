package org.ddpm4j.checkpoint;

import org.ddpm4j.setting.SettingText;
import org.ddpm4j.setting.UserFacingException;

/** A checkpoint or weights file that cannot be read or written; the message names the file and the problem. */
public class CheckpointException extends UserFacingException {
    public CheckpointException(String message) {
        super(message, null);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }

    /** A message that names settings, e.g. {@code SettingText.of("...; use ", Setting.RESIZE, " to scale images")}. */
    public CheckpointException(SettingText text) {
        super(text, null);
    }

    public CheckpointException(SettingText text, Throwable cause) {
        super(text, cause);
    }
}
