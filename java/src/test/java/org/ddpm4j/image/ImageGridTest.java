package org.ddpm4j.image;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.ddpm4j.sample.Images;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageGridTest {
    @Test
    void pixelMappingFromMinusOneToOne() {
        assertEquals(0, ImageGrid.toByte(-1f));
        assertEquals(255, ImageGrid.toByte(1f));
        assertEquals(128, ImageGrid.toByte(0f));
        assertEquals(0, ImageGrid.toByte(-3f));
        assertEquals(255, ImageGrid.toByte(7f));
        assertEquals(0, ImageGrid.toByte(Float.NaN));
    }

    @Test
    void hundredImagesMakeA10x10GridWith2pxBorders(@TempDir Path dir) throws Exception {
        int n = 100;
        float[] d = new float[n * 3 * 32 * 32];
        for (int k = 0; k < n; k++) {
            for (int i = 0; i < 1024; i++) {
                d[k * 3072 + i] = k / 99f * 2 - 1;  // red encodes the index
                d[k * 3072 + 1024 + i] = -1f;
                d[k * 3072 + 2048 + i] = 1f;
            }
        }
        BufferedImage img = ImageGrid.square(new Images(n, 3, 32, 32, d));
        assertEquals(10 * 32 + 11 * 2, img.getWidth());
        assertEquals(342, img.getHeight());
        Path f = dir.resolve("grid.png");
        PngFiles.write(img, f);
        BufferedImage back = ImageIO.read(f.toFile());
        assertEquals(342, back.getWidth());
        assertEquals(0xFFFFFF, back.getRGB(0, 0) & 0xFFFFFF, "border");
        assertEquals(0xFFFFFF, back.getRGB(1, 1) & 0xFFFFFF, "border is 2 px");
        assertEquals(0xFFFFFF, back.getRGB(34, 10) & 0xFFFFFF, "border between columns");
        // Image 0 at (2, 2): red 0, green 0, blue 255. Image 99 at the bottom right: red 255.
        assertEquals(0x0000FF, back.getRGB(2, 2) & 0xFFFFFF);
        assertEquals(0xFF00FF, back.getRGB(2 + 9 * 34 + 31, 2 + 9 * 34 + 31) & 0xFFFFFF);
        // Image 13 (row 1, column 3).
        int red = (back.getRGB(2 + 3 * 34 + 5, 2 + 34 + 5) >> 16) & 0xff;
        assertEquals(ImageGrid.toByte(13 / 99f * 2 - 1), red);
        assertFalse(java.nio.file.Files.exists(dir.resolve("grid.png.tmp")));
    }
}
