package org.ddpm4j.setting;

/**
 * An exception whose message may name settings: the facade and the CLI render {@link #settingText}
 * in their own vocabulary when it is not null, and use the plain message otherwise.
 */
public interface NamesSettings {
    /** The message with its settings unrendered, or null when it names none. */
    SettingText settingText();
}
