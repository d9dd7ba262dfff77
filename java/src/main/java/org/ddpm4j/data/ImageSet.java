package org.ddpm4j.data;

import java.util.Arrays;
import java.util.List;

/**
 * Labelled uint8 images held in memory, each stored channel-major (C, H, W) as
 * the native training step expects. Immutable.
 */
public final class ImageSet {
    private final byte[] pixels;
    private final byte[] labels;
    private final List<String> classNames;
    private final int channels;
    private final int height;
    private final int width;

    /**
     * @param pixels n * channels * height * width bytes, image after image, each (C, H, W)
     * @param labels n labels, each an index into classNames
     */
    public ImageSet(byte[] pixels, byte[] labels, List<String> classNames, int channels, int height, int width) {
        long per = (long) channels * height * width;
        if (per <= 0 || pixels.length != per * labels.length) {
            throw new IllegalArgumentException("ImageSet: " + pixels.length + " pixel bytes for " + labels.length
                    + " images of " + channels + "x" + height + "x" + width);
        }
        for (byte l : labels) {
            if ((l & 0xff) >= classNames.size()) throw new IllegalArgumentException("ImageSet: label " + (l & 0xff) + " has no class name");
        }
        this.pixels = pixels;
        this.labels = labels;
        this.classNames = List.copyOf(classNames);
        this.channels = channels;
        this.height = height;
        this.width = width;
    }

    public int size() {
        return labels.length;
    }

    public int channels() {
        return channels;
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }

    /** Bytes of one image, C*H*W. */
    public int imageSize() {
        return channels * height * width;
    }

    public List<String> classNames() {
        return classNames;
    }

    public int label(int i) {
        return labels[i] & 0xff;
    }

    /** Copies image i into dst at dstOffset. */
    public void copyImage(int i, byte[] dst, int dstOffset) {
        int per = imageSize();
        System.arraycopy(pixels, i * per, dst, dstOffset, per);
    }

    /** Images per class, indexed by label. */
    public int[] classCounts() {
        int[] counts = new int[classNames.size()];
        for (byte l : labels) counts[l & 0xff]++;
        return counts;
    }

    /** The images of one class, in their original order (labels and class names kept). */
    public ImageSet onlyClass(int label) {
        if (label < 0 || label >= classNames.size()) throw new IllegalArgumentException("no class " + label);
        int n = classCounts()[label];
        int per = imageSize();
        byte[] px = new byte[n * per];
        byte[] lb = new byte[n];
        int k = 0;
        for (int i = 0; i < labels.length; i++) {
            if ((labels[i] & 0xff) != label) continue;
            System.arraycopy(pixels, i * per, px, k * per, per);
            lb[k++] = labels[i];
        }
        return new ImageSet(px, lb, classNames, channels, height, width);
    }

    /** The first n images (all when n >= size()). */
    public ImageSet first(int n) {
        if (n >= size()) return this;
        if (n < 1) throw new IllegalArgumentException("first: n must be >= 1, got " + n);
        return new ImageSet(Arrays.copyOf(pixels, n * imageSize()), Arrays.copyOf(labels, n), classNames, channels,
                height, width);
    }
}
