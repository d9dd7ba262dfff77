package org.ddpm4j.setting;

/**
 * A problem the user can fix, told in one line that may name settings: the base of the data,
 * checkpoint, backend and divergence errors. Built from a {@link SettingText}, its message uses the Java API's
 * names and {@link #settingText} lets the CLI render flags.
 */
public class UserFacingException extends RuntimeException implements NamesSettings {
    private final transient SettingText settingText;

    public UserFacingException(String message, Throwable cause) {
        super(message, cause);
        this.settingText = null;
    }

    public UserFacingException(SettingText text, Throwable cause) {
        super(text.toString(), cause);
        this.settingText = text;
    }

    @Override
    public SettingText settingText() {
        return settingText;
    }
}
