package org.ddpm4j.data;

import java.util.Locale;
import org.ddpm4j.setting.Setting;

/** Which CIFAR-10 files to read: the 50,000 training images or the 10,000 test images. */
public enum Split {
    TRAIN, TEST;

    public static Split parse(String s) {
        return Setting.SPLIT.parse(s, values());
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
