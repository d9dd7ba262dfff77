package org.ddpm4j.sample;

/**
 * A stack of float images in [-1, 1] (values outside are allowed and clamped
 * when drawn), each (C, H, W).
 */
public record Images(int count, int channels, int height, int width, float[] data) {
    public Images {
        if ((long) count * channels * height * width != data.length) {
            throw new IllegalArgumentException("Images: " + data.length + " values for " + count + " x " + channels + "x" + height + "x" + width);
        }
    }

    public int imageSize() {
        return channels * height * width;
    }

    /** Images [from, from + n) as a new stack. */
    public Images slice(int from, int n) {
        float[] d = new float[n * imageSize()];
        System.arraycopy(data, from * imageSize(), d, 0, d.length);
        return new Images(n, channels, height, width, d);
    }

    public boolean allFinite() {
        for (float v : data) if (!Float.isFinite(v)) return false;
        return true;
    }
}
