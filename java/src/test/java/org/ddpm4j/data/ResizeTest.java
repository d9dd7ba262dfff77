package org.ddpm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pictures that are not the model's size: Pillow's antialiased bilinear resampling bit for bit (golden files
 * from Pillow itself, scripts/make_resize_golden.py), the centred square of {@link Resize#CROP}, the whole
 * picture of {@link Resize#STRETCH}, and the mode as the CLI parses it.
 */
class ResizeTest {
    private static BufferedImage golden(String name) throws IOException {
        try (InputStream in = ResizeTest.class.getResourceAsStream("/golden/resize/" + name)) {
            assertNotNull(in, "test resource golden/resize/" + name);
            return ImageIO.read(in);
        }
    }

    private static void assertSameAsPillow(String input, Resize mode, int toW, int toH, String expected) throws IOException {
        BufferedImage in = golden(input), want = golden(expected);
        int[] got = mode.apply(ImageFolderReader.rgbPixels(in), in.getWidth(), in.getHeight(), toW, toH);
        int[] ref = ImageFolderReader.rgbPixels(want);
        assertEquals(ref.length, got.length);
        int worst = 0, differing = 0;
        for (int i = 0; i < ref.length; i++)
            for (int shift : new int[] {0, 8, 16}) {
                int d = Math.abs(((got[i] >> shift) & 0xff) - ((ref[i] >> shift) & 0xff));
                worst = Math.max(worst, d);
                if (d != 0) differing++;
            }
        assertEquals(0, worst, input + " -> " + expected + ": " + differing + " samples differ from Pillow's, by up to " + worst);
    }

    @Test
    void sameBitsAsPillowsBilinear() throws IOException {
        assertSameAsPillow("input.png", Resize.STRETCH, 32, 32, "stretch-32.png");     // 61x43 down, both axes
        assertSameAsPillow("input.png", Resize.CROP, 32, 32, "crop-32.png");           // its centred 43x43 square
        assertSameAsPillow("input.png", Resize.STRETCH, 13, 9, "stretch-13x9.png");    // a strong reduction
        assertSameAsPillow("small.png", Resize.CROP, 32, 32, "crop-up-32.png");        // enlarging a 5x5 square
        assertSameAsPillow("grey.png", Resize.CROP, 16, 16, "grey-crop-16.png");       // a square, grey
    }

    /** A 64x32 picture: red quarters left and right, a green half in the middle. */
    private static Path sides(Path dir) throws IOException {
        BufferedImage img = new BufferedImage(64, 32, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 64; x++) img.setRGB(x, y, x < 16 || x >= 48 ? 0xFF0000 : 0x00FF00);
        Path f = dir.resolve("pics").resolve("wide.png");
        Files.createDirectories(f.getParent());
        assertTrue(ImageIO.write(img, "png", f.toFile()));
        return f.getParent();
    }

    @Test
    void cropKeepsTheCentredSquareAndStretchTheWholePicture(@TempDir Path dir) throws IOException {
        Path pics = sides(dir);
        byte[] px = new byte[3 * 32 * 32];
        ImageFolderReader.read(pics, 3, 32, 32, Resize.CROP).copyImage(0, px, 0);
        for (int i = 0; i < 32 * 32; i++) {
            assertEquals(0, px[i] & 0xff, "crop: no red from the sides, pixel " + i);
            assertEquals(255, px[1024 + i] & 0xff, "crop: the green middle, pixel " + i);
        }
        ImageFolderReader.read(pics, 3, 32, 32, Resize.STRETCH).copyImage(0, px, 0);
        assertEquals(255, px[0] & 0xff, "stretch: the red left edge is kept");
        assertEquals(255, px[31] & 0xff, "stretch: the red right edge is kept");
        assertEquals(255, px[1024 + 16] & 0xff, "stretch: green in the middle");
    }

    @Test
    void aFlatPictureStaysFlatAndDownscalingAverages() {
        int[] flat = new int[50 * 30];
        java.util.Arrays.fill(flat, 0x417F03);
        for (Resize r : new Resize[] {Resize.CROP, Resize.STRETCH})
            for (int v : r.apply(flat, 50, 30, 7, 7)) assertEquals(0x417F03, v);
        // A one-pixel checkerboard of 0 and 255 reduced 8 times is mid-grey (a sampled one would be 0 or 255).
        int[] board = new int[64 * 64];
        for (int i = 0; i < board.length; i++) board[i] = ((i % 64 + i / 64) & 1) == 0 ? 0xFFFFFF : 0;
        for (int v : Resize.STRETCH.apply(board, 64, 64, 8, 8)) assertEquals(128, v & 0xff, 1);
    }

    @Test
    void modesParseAsTheirNames() {
        assertEquals(Resize.CROP, Resize.parse("crop"));
        assertEquals(Resize.STRETCH, Resize.parse("Stretch"));
        assertEquals(Resize.NONE, Resize.parse("none"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Resize.parse("fit"));
        assertTrue(e.getMessage().contains("none, crop or stretch") && e.getMessage().contains("fit"), e.getMessage());
    }
}
