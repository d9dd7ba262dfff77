package org.ddpm4j.api;

import java.util.List;
import java.util.Objects;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.setting.SettingText;

/** Settings given on a resume whose values differ from the run's: "--lr 0.001 (the run has 0.0001)". */
final class Changes {
    private Changes() {}

    static SettingText of(Setting setting, Object given, Object recorded) {
        return SettingText.of(setting, " " + given + " (the run has " + recorded + ")");
    }

    /** Adds the setting when it was given ({@code given} not null) with another value than {@code recorded}. */
    static void add(List<SettingText> out, Setting setting, Object given, Object recorded) {
        if (given != null && !sameValue(given, recorded)) out.add(of(setting, given, recorded));
    }

    private static boolean sameValue(Object a, Object b) {
        if (a instanceof Number x && b instanceof Number y) {
            return x instanceof Float || y instanceof Float ? x.floatValue() == y.floatValue() : x.doubleValue() == y.doubleValue();
        }
        return Objects.equals(a, b);
    }
}
