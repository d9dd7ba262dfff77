package org.ddpm4j.setting;

/**
 * A chosen value that is out of range or contradicts another: thrown below the CLI and the facade,
 * which name the setting in their own vocabulary ({@link #text}); {@link #getMessage} uses the
 * Java API's names.
 */
public final class InvalidSettingException extends IllegalArgumentException implements NamesSettings {
    private final Setting setting;
    private final transient SettingText text;

    public InvalidSettingException(Setting setting, SettingText text) {
        super(text.toString());
        this.setting = setting;
        this.text = text;
    }

    /** The setting whose value was refused. */
    public Setting setting() {
        return setting;
    }

    @Override
    public SettingText settingText() {
        return text;
    }
}
