package org.ddpm4j.backend;

import java.util.Locale;

/** The --device choice: auto picks CUDA when a GPU is usable, else the CPU. */
public enum Device {
    AUTO, CPU, CUDA;

    public static Device parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--device must be auto, cpu or cuda, got '" + s + "'");
        }
    }
}
