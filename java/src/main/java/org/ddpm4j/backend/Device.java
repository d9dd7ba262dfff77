package org.ddpm4j.backend;

import org.ddpm4j.setting.Setting;

/** The --device choice: auto picks CUDA when a GPU is usable, else the CPU. */
public enum Device {
    AUTO, CPU, CUDA;

    public static Device parse(String s) {
        return Setting.DEVICE.parse(s, values());
    }
}
