package org.ddpm4j.data;

import java.util.Locale;
import org.ddpm4j.setting.Setting;

/** Which CIFAR-10 files to read: the 50,000 training images or the 10,000 test images. */
public enum Split {
    TRAIN, TEST;

    public static Split parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw Setting.SPLIT.invalid("must be train or test, got '" + s + "'");
        }
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
