package org.ddpm4j.image;

import java.awt.image.BufferedImage;
import org.ddpm4j.sample.Images;

/**
 * Lays images out on a grid with a border between and around them. Pixel values
 * in [-1, 1] map to [0, 255] as round((v + 1) * 127.5), clamped; NaN draws as 0.
 * One-channel images draw as grey.
 */
public final class ImageGrid {
    public static final int BORDER = 2;
    public static final int BORDER_RGB = 0xFFFFFF;

    private ImageGrid() {}

    /** [-1, 1] to [0, 255]. */
    public static int toByte(float v) {
        if (Float.isNaN(v)) return 0;
        long b = Math.round((v + 1.0) * 127.5);
        return (int) Math.max(0, Math.min(255, b));
    }

    /** Images row by row, {@code cols} per row; the last row may be partial. */
    public static BufferedImage render(Images images, int cols, int border) {
        if (cols < 1) throw new IllegalArgumentException("cols must be >= 1");
        int rows = Math.max(1, (images.count() + cols - 1) / cols);
        int H = images.height(), W = images.width(), C = images.channels(), hw = H * W;
        int width = cols * W + (cols + 1) * border;
        int height = rows * H + (rows + 1) * border;
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) for (int x = 0; x < width; x++) img.setRGB(x, y, BORDER_RGB);
        float[] d = images.data();
        for (int k = 0; k < images.count(); k++) {
            int ox = border + (k % cols) * (W + border);
            int oy = border + (k / cols) * (H + border);
            int base = k * images.imageSize();
            for (int i = 0; i < hw; i++) {
                int r = toByte(d[base + i]);
                int g = C >= 3 ? toByte(d[base + hw + i]) : r;
                int b = C >= 3 ? toByte(d[base + 2 * hw + i]) : r;
                img.setRGB(ox + i % W, oy + i / W, (r << 16) | (g << 8) | b);
            }
        }
        return img;
    }

    /** A square-ish grid: 10x10 for the notebook's 100 images. */
    public static BufferedImage square(Images images) {
        int cols = (int) Math.ceil(Math.sqrt(images.count()));
        return render(images, cols, BORDER);
    }
}
