package org.ddpm4j.data;

import java.util.Locale;
import org.ddpm4j.setting.Setting;

/**
 * What happens to a picture (image folder, or pictures a program hands over) that is not the model's size.
 * Scaling is Pillow's antialiased bilinear filter, bit for bit ({@link Resampler}).
 */
public enum Resize {
    /** Refused, naming the file (or the picture's index). */
    NONE,
    /**
     * The largest centred square (the model's aspect), scaled to the model's size: torchvision's
     * {@code Resize} + {@code CenterCrop}, diffusers' {@code --center_crop}. Nothing is distorted.
     */
    CROP,
    /** The whole picture scaled to the model's size, the aspect not kept. */
    STRETCH;

    public static Resize parse(String s) {
        return Setting.RESIZE.parse(s, values());
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** 0xRRGGBB pixels of a w x h picture at toW x toH in this mode (not NONE). */
    int[] apply(int[] rgb, int w, int h, int toW, int toH) {
        if (this == NONE) throw new IllegalStateException("Resize.NONE scales nothing");
        if (this == STRETCH) return Resampler.resize(rgb, w, h, 0, 0, w, h, toW, toH);
        // The largest box of the target's aspect, centred (fractions kept: no rounding of the crop).
        double boxW = w, boxH = h;
        if ((double) w * toH > (double) h * toW) boxW = (double) h * toW / toH;
        else boxH = (double) w * toH / toW;
        double x0 = (w - boxW) / 2.0, y0 = (h - boxH) / 2.0;
        return Resampler.resize(rgb, w, h, x0, y0, x0 + boxW, y0 + boxH, toW, toH);
    }
}
