package org.ddpm4j.api;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import org.ddpm4j.image.ImageGrid;
import org.ddpm4j.sample.Images;
import org.ddpm4j.sample.SampleResult;

/**
 * Images drawn by {@link DiffusionModel#sample}: the final x_0, clipped to [-1, 1], as floats
 * (count x channels x height x width, channel-major), as pictures or as uint8 bytes; and what the
 * command line writes besides: every image at the mid step (the notebook's t = 500) and the
 * x_T .. x_0 strip. Pixel values map to bytes as round((v + 1) * 127.5), clamped, as in the PNGs and
 * the npz file. Immutable (the arrays returned are copies).
 */
public final class Samples {
    private final Images images;
    private final Images mid;
    private final int midStep;
    private final Images strip;
    private final int[] stripTimes;
    private final double seconds;

    Samples(SampleResult r, double seconds) {
        this.images = r.images();
        this.mid = r.mid();
        this.midStep = r.midTime();
        this.strip = r.strip();
        this.stripTimes = r.stripTimes();
        this.seconds = seconds;
    }

    public int count() {
        return images.count();
    }

    public int channels() {
        return images.channels();
    }

    public int height() {
        return images.height();
    }

    public int width() {
        return images.width();
    }

    /** Wall time of the sampling, in seconds. */
    public double seconds() {
        return seconds;
    }

    /** Every image's values in [-1, 1], count x channels x height x width (a copy). */
    public float[] values() {
        return images.data().clone();
    }

    /** Image {@code i} as an RGB picture (grey for a one-channel model). */
    public BufferedImage image(int i) {
        checkIndex(i);
        return ImageGrid.render(images.slice(i, 1), 1, 0);
    }

    /** Every image as a picture, in order. */
    public List<BufferedImage> images() {
        List<BufferedImage> out = new ArrayList<>(count());
        for (int i = 0; i < count(); i++) out.add(image(i));
        return out;
    }

    /** Every image as uint8, count x height x width x channels (the layout of numpy images and of FID tools). */
    public byte[] bytesHwc() {
        int n = count(), c = channels(), hw = height() * width();
        float[] d = images.data();
        byte[] out = new byte[n * hw * c];
        for (int k = 0; k < n; k++) {
            for (int i = 0; i < hw; i++) {
                for (int ch = 0; ch < c; ch++) out[(k * hw + i) * c + ch] = (byte) ImageGrid.toByte(d[(k * c + ch) * hw + i]);
            }
        }
        return out;
    }

    /** The images on a square-ish grid with 2-pixel white borders: 10x10 for 100 (the command line's samples.png). */
    public BufferedImage grid() {
        return ImageGrid.square(images);
    }

    /** The t of the mid snapshot (the asked one, or with DDIM the visited t below it), or -1 when none was asked. */
    public int midStep() {
        return midStep;
    }

    /** Every image after the reverse step at {@link #midStep}, on a grid as {@link #grid}; null without a snapshot. */
    public BufferedImage midGrid() {
        return mid == null ? null : ImageGrid.square(mid);
    }

    /** The values of the mid snapshot as {@link #values}, or null. */
    public float[] midValues() {
        return mid == null ? null : mid.data().clone();
    }

    /** The first few images from x_T (left) to x_0 (right), one row each; null when no strip was asked. */
    public BufferedImage strip() {
        return strip == null ? null : ImageGrid.render(strip, stripTimes.length, ImageGrid.BORDER);
    }

    /** The t of each strip column: T for x_T, then the step after which it was read, 0 last; empty without a strip. */
    public int[] stripTimes() {
        return strip == null ? new int[0] : stripTimes.clone();
    }

    private void checkIndex(int i) {
        if (i < 0 || i >= count()) throw new InvalidInputException("image " + i + " is outside the " + count() + " samples");
    }
}
