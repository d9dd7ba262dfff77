package org.ddpm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.Transparency;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.IndexColorModel;
import java.awt.image.WritableRaster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Image folders give the pixel values stored in the file, whatever the PNG's colour
 * type and depth: issue 11 found greyscale PNGs (the usual MNIST format) read
 * gamma-brightened (1 became 13, 65 became 138) through BufferedImage.getRGB. Each
 * test writes a PNG of a known kind (checked in its IHDR chunk) and compares every pixel.
 */
class ImageFolderPixelTest {
    @TempDir
    Path dir;

    /** 4x2 grey levels, including the 1, 65 and 121. */
    static final int[] GREY = {0, 1, 65, 121, 128, 200, 254, 255};
    static final int W = 4, H = 2;

    private Path png(String name, BufferedImage img, int bitDepth, int colourType) throws IOException {
        Path f = dir.resolve(name).resolve("img.png");
        Files.createDirectories(f.getParent());
        assertTrue(ImageIO.write(img, "png", f.toFile()), "ImageIO writes " + name);
        byte[] b = Files.readAllBytes(f);
        assertEquals(bitDepth, b[24], name + ": IHDR bit depth");
        assertEquals(colourType, b[25], name + ": IHDR colour type");
        return f.getParent();
    }

    private static int[] read(Path folder, int channels) {
        ImageSet s = ImageFolderReader.read(folder, channels, H, W, Resize.NONE);
        byte[] px = new byte[s.imageSize()];
        s.copyImage(0, px, 0);
        int[] out = new int[px.length];
        for (int i = 0; i < px.length; i++) out[i] = px[i] & 0xff;
        return out;
    }

    /** The expected (C, H, W) planes of grey levels: the level itself in each channel. */
    private static int[] greyPlanes(int[] levels, int channels) {
        int[] out = new int[levels.length * channels];
        for (int c = 0; c < channels; c++) System.arraycopy(levels, 0, out, c * levels.length, levels.length);
        return out;
    }

    private static void assertGrey(Path folder, int[] levels) {
        assertArrayEquals(greyPlanes(levels, 1), read(folder, 1), "one channel");
        assertArrayEquals(greyPlanes(levels, 3), read(folder, 3), "three channels");
    }

    @Test
    void eightBitGreyIsExact() throws IOException {
        BufferedImage img = new BufferedImage(W, H, BufferedImage.TYPE_BYTE_GRAY);
        img.getRaster().setPixels(0, 0, W, H, GREY);
        assertGrey(png("grey8", img, 8, 0), GREY);
    }

    @Test
    void sixteenBitGreyIsScaledToEightBitsExactly() throws IOException {
        int[] v = {0, 128, 129, 257, 32767, 32896, 65534, 65535};
        BufferedImage img = new BufferedImage(W, H, BufferedImage.TYPE_USHORT_GRAY);
        img.getRaster().setPixels(0, 0, W, H, v);
        int[] want = Arrays.stream(v).map(x -> (int) Math.round(x * 255.0 / 65535)).toArray();
        assertArrayEquals(new int[] {0, 0, 1, 1, 127, 128, 255, 255}, want, "round(v * 255 / 65535)");
        assertGrey(png("grey16", img, 16, 0), want);
    }

    @Test
    void greyWithAlphaKeepsTheGreyAndDropsTheAlpha() throws IOException {
        ComponentColorModel cm = new ComponentColorModel(ColorSpace.getInstance(ColorSpace.CS_GRAY), true, false,
                Transparency.TRANSLUCENT, DataBuffer.TYPE_BYTE);
        WritableRaster r = cm.createCompatibleWritableRaster(W, H);
        for (int i = 0; i < W * H; i++) r.setPixel(i % W, i / W, new int[] {GREY[i], 255 - 30 * i});
        assertGrey(png("grey-alpha", new BufferedImage(cm, r, false, null), 8, 4), GREY);
    }

    @Test
    void lowBitDepthGreyIsScaledExactly() throws IOException {
        byte[] ramp = {0, 85, (byte) 170, (byte) 255};
        IndexColorModel cm = new IndexColorModel(2, 4, ramp, ramp, ramp);
        BufferedImage img = new BufferedImage(W, H, BufferedImage.TYPE_BYTE_BINARY, cm);
        img.getRaster().setPixels(0, 0, W, H, new int[] {0, 1, 2, 3, 3, 2, 1, 0});
        assertGrey(png("grey2", img, 2, 0), new int[] {0, 85, 170, 255, 255, 170, 85, 0});
    }

    /** Colours chosen so that no two channels agree and none is grey. */
    static final int[][] RGB = {{255, 0, 0}, {0, 128, 255}, {1, 65, 121}, {10, 20, 30}, {200, 100, 50}, {3, 2, 1},
            {254, 255, 253}, {77, 0, 199}};

    private static int[] rgbPlanes() {
        int[] out = new int[3 * W * H];
        for (int i = 0; i < W * H; i++) for (int c = 0; c < 3; c++) out[c * W * H + i] = RGB[i][c];
        return out;
    }

    private static int[] luminance() {
        return Arrays.stream(RGB).mapToInt(p -> (int) Math.round(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2])).toArray();
    }

    private static void assertColour(Path folder) {
        assertArrayEquals(rgbPlanes(), read(folder, 3), "three channels");
        assertArrayEquals(luminance(), read(folder, 1), "one channel: luminance");
    }

    private static void fill(WritableRaster r, int scale, int alpha) {
        for (int i = 0; i < W * H; i++) {
            int[] p = alpha < 0 ? new int[3] : new int[] {0, 0, 0, alpha};
            for (int c = 0; c < 3; c++) p[c] = RGB[i][c] * scale;
            r.setPixel(i % W, i / W, p);
        }
    }

    @Test
    void rgbAndRgbaAreExact() throws IOException {
        BufferedImage rgb = new BufferedImage(W, H, BufferedImage.TYPE_3BYTE_BGR);
        fill(rgb.getRaster(), 1, -1);
        assertColour(png("rgb8", rgb, 8, 2));
        BufferedImage rgba = new BufferedImage(W, H, BufferedImage.TYPE_4BYTE_ABGR);
        fill(rgba.getRaster(), 1, 90);
        assertColour(png("rgba8", rgba, 8, 6));
    }

    @Test
    void sixteenBitRgbIsScaledExactly() throws IOException {
        ComponentColorModel cm = new ComponentColorModel(ColorSpace.getInstance(ColorSpace.CS_sRGB), false, false,
                Transparency.OPAQUE, DataBuffer.TYPE_USHORT);
        WritableRaster r = cm.createCompatibleWritableRaster(W, H);
        fill(r, 257, -1);  // v * 257 is exactly v in 8 bits
        assertColour(png("rgb16", new BufferedImage(cm, r, false, null), 16, 2));
    }

    @Test
    void paletteImagesLookTheirColoursUp() throws IOException {
        byte[] red = new byte[8], green = new byte[8], blue = new byte[8];
        for (int i = 0; i < 8; i++) {
            red[i] = (byte) RGB[i][0];
            green[i] = (byte) RGB[i][1];
            blue[i] = (byte) RGB[i][2];
        }
        IndexColorModel cm = new IndexColorModel(8, 8, red, green, blue);
        BufferedImage img = new BufferedImage(W, H, BufferedImage.TYPE_BYTE_INDEXED, cm);
        img.getRaster().setPixels(0, 0, W, H, new int[] {0, 1, 2, 3, 4, 5, 6, 7});
        assertColour(png("palette", img, 8, 3));
    }

    @Test
    void greyStaysExactThroughResizingAndJpeg() throws IOException {
        BufferedImage big = new BufferedImage(4 * W, 4 * H, BufferedImage.TYPE_BYTE_GRAY);
        int[] flat = new int[16 * W * H];
        Arrays.fill(flat, 65);
        big.getRaster().setPixels(0, 0, 4 * W, 4 * H, flat);
        Path resized = png("grey-big", big, 8, 0);
        ImageSet s = ImageFolderReader.read(resized, 1, H, W, Resize.STRETCH);
        byte[] px = new byte[W * H];
        s.copyImage(0, px, 0);
        for (byte b : px) assertEquals(65, b & 0xff, "a flat 65 scaled down is 65 (not 138)");

        BufferedImage jpeg = new BufferedImage(8, 8, BufferedImage.TYPE_BYTE_GRAY);
        jpeg.getRaster().setPixels(0, 0, 8, 8, Arrays.copyOf(flat, 64));
        Path f = dir.resolve("jpeg").resolve("grey.jpg");
        Files.createDirectories(f.getParent());
        assertTrue(ImageIO.write(jpeg, "jpg", f.toFile()));
        ImageSet j = ImageFolderReader.read(f.getParent(), 1, 8, 8, Resize.NONE);
        byte[] jp = new byte[64];
        j.copyImage(0, jp, 0);
        for (byte b : jp) assertEquals(65, b & 0xff, 1, "a flat grey JPEG block keeps its level");
    }
}
