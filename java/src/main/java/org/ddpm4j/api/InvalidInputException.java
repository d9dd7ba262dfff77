package org.ddpm4j.api;

import org.ddpm4j.setting.SettingText;

/**
 * Bad input: a file that is missing, damaged or not a model, data that cannot be used, a value
 * outside its range, settings that contradict each other or a resumed run's. The message names
 * what and why; nothing was written (a refused output is refused before any work).
 */
public final class InvalidInputException extends DdpmException {
    public InvalidInputException(String message) {
        super(message, null);
    }

    public InvalidInputException(String message, Throwable cause) {
        super(message, cause);
    }

    /** A message that names settings (rendered per vocabulary by {@link #message(java.util.function.Function)}). */
    public InvalidInputException(SettingText text, Throwable cause) {
        super(text, cause);
    }
}
