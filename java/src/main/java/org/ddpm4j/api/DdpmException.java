package org.ddpm4j.api;

import java.util.List;
import java.util.function.Function;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.setting.SettingText;

/**
 * What the facade throws, in one of four kinds a caller can act on: {@link InvalidInputException}
 * (bad data, files or values: fix the input), {@link DeviceUnavailableException} (the asked device
 * cannot run here, or has not the memory), {@link DivergedException} (training produced non-finite
 * numbers) and {@link InternalException} (anything else: a bug, native failures included). The
 * message is one line that names the file, the setting or the value and what was expected; the
 * cause, when there is one, is the internal exception it came from. Settings are named as the
 * Java API names them ({@code logEvery}); {@link #message(Function)} renders them otherwise (the CLI
 * uses the flags).
 */
public abstract sealed class DdpmException extends RuntimeException
        permits InvalidInputException, DeviceUnavailableException, DivergedException, InternalException {
    private final transient SettingText text;

    DdpmException(String message, Throwable cause) {
        super(message, cause);
        this.text = null;
    }

    DdpmException(SettingText text, Throwable cause) {
        super(text.toString(), cause);
        this.text = text;
    }

    /** The message with each setting it names rendered by {@code name} (e.g. {@link Setting#flag}). */
    public String message(Function<Setting, String> name) {
        return text == null ? getMessage() : text.render(name);
    }

    /** The settings the message names, in its order (empty when it names none); a refused value names its setting first. */
    public List<Setting> settings() {
        return text == null ? List.of() : text.settings();
    }
}
