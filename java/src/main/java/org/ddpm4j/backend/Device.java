package org.ddpm4j.backend;

import java.util.Locale;
import org.ddpm4j.setting.Setting;

/** The --device choice: auto picks CUDA when a GPU is usable, else the CPU. */
public enum Device {
    AUTO, CPU, CUDA;

    public static Device parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw Setting.DEVICE.invalid("must be auto, cpu or cuda, got '" + s + "'");
        }
    }
}
