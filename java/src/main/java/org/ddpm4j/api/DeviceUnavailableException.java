package org.ddpm4j.api;

import org.ddpm4j.setting.SettingText;

/**
 * The device asked for cannot run here (no usable GPU, driver, cuDNN or cuBLAS for
 * {@code Compute.cuda()}; the native library does not load on this machine) or has not the memory
 * the work needs (try a smaller batch). The message says why in one line.
 */
public final class DeviceUnavailableException extends DdpmException {
    public DeviceUnavailableException(String message) {
        super(message, null);
    }

    public DeviceUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }

    /** A message that names settings (rendered per vocabulary by {@link #message(java.util.function.Function)}). */
    public DeviceUnavailableException(SettingText text, Throwable cause) {
        super(text, cause);
    }
}
