package org.ddpm4j.sample;

import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;
import org.ddpm4j.setting.Setting;

/**
 * What {@code ddpm sample} writes: GRID (samples.png, the mid-step grid and the x_T..x_0
 * strip), PNG (one file per image, sample-00000.png ...), NPZ (samples.npz, uint8
 * N x H x W x C for FID / IS evaluators).
 */
public enum SampleFormat {
    GRID, PNG, NPZ;

    /** A comma-separated list, e.g. "grid,npz". */
    public static Set<SampleFormat> parseList(String s) {
        Set<SampleFormat> out = EnumSet.noneOf(SampleFormat.class);
        for (String part : s.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) continue;
            try {
                out.add(valueOf(p.toUpperCase(Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                throw Setting.FORMAT.invalid("takes grid, png and npz, comma-separated; got '" + p + "'");
            }
        }
        if (out.isEmpty()) throw Setting.FORMAT.invalid("needs at least one of grid, png, npz");
        return out;
    }
}
