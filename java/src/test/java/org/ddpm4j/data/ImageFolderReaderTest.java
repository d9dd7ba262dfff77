package org.ddpm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageFolderReaderTest {
    static void image(Path file, int w, int h, int rgb, String format) throws IOException {
        Files.createDirectories(file.getParent());
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img.setRGB(x, y, x == 0 ? 0x000000 : rgb);
        assertTrue(ImageIO.write(img, format, file.toFile()));
    }

    @Test
    void readsClassSubfoldersOfPngAndJpeg(@TempDir Path dir) throws IOException {
        image(dir.resolve("cats/a.png"), 32, 32, 0xFF8000, "png");
        image(dir.resolve("cats/b.jpg"), 32, 32, 0x00FF00, "jpg");
        image(dir.resolve("dogs/c.PNG"), 32, 32, 0x0000FF, "png");
        Files.writeString(dir.resolve("dogs/notes.txt"), "ignored");
        ImageSet s = ImageFolderReader.read(dir, 3, 32, 32, Resize.NONE);
        assertEquals(3, s.size());
        assertEquals(java.util.List.of("cats", "dogs"), s.classNames());
        assertArrayEquals(new int[] {2, 1}, s.classCounts());
        byte[] px = new byte[3072];
        s.copyImage(0, px, 0);
        assertEquals(0, px[0] & 0xff, "red plane, x = 0");
        assertEquals(0xFF, px[1] & 0xff, "red plane, x = 1");
        assertEquals(0x80, px[1024 + 1] & 0xff, "green plane");
        assertEquals(0x00, px[2048 + 1] & 0xff, "blue plane");
        s.copyImage(2, px, 0);
        assertEquals(0xFF, px[2048 + 5] & 0xff, "the dog is blue");
    }

    @Test
    void wrongSizeIsRejectedWithTheFileNameOrResized(@TempDir Path dir) throws IOException {
        image(dir.resolve("x/big.png"), 64, 48, 0xFFFFFF, "png");
        DataException e = assertThrows(DataException.class, () -> ImageFolderReader.read(dir, 3, 32, 32, Resize.NONE));
        assertTrue(e.getMessage().contains("big.png") && e.getMessage().contains("64x48")
                && e.getMessage().contains("32x32") && e.getMessage().contains("resize crop or stretch to scale"), e.getMessage());
        ImageSet s = ImageFolderReader.read(dir, 3, 32, 32, Resize.STRETCH);
        assertEquals(1, s.size());
        byte[] px = new byte[3072];
        s.copyImage(0, px, 0);
        assertEquals(0xFF, px[16 * 32 + 16] & 0xff);
    }

    @Test
    void flatFolderIsOneClassAndGreyWorks(@TempDir Path dir) throws IOException {
        image(dir.resolve("p.png"), 8, 8, 0x808080, "png");
        ImageSet s = ImageFolderReader.read(dir, 1, 8, 8, Resize.NONE);
        assertEquals(1, s.size());
        assertEquals(1, s.classNames().size());
        byte[] px = new byte[64];
        s.copyImage(0, px, 0);
        assertEquals(0x80, px[1] & 0xff);
    }

    @Test
    void emptyOrUndecodableFoldersAreReported(@TempDir Path dir) throws IOException {
        Files.createDirectories(dir.resolve("empty"));
        DataException e = assertThrows(DataException.class, () -> ImageFolderReader.read(dir.resolve("empty"), 3, 32, 32, Resize.NONE));
        assertTrue(e.getMessage().contains("no PNG or JPEG"), e.getMessage());
        Files.createDirectories(dir.resolve("bad"));
        Files.writeString(dir.resolve("bad/broken.png"), "not a png");
        e = assertThrows(DataException.class, () -> ImageFolderReader.read(dir.resolve("bad"), 3, 32, 32, Resize.NONE));
        assertTrue(e.getMessage().contains("broken.png"), e.getMessage());
        e = assertThrows(DataException.class, () -> ImageFolderReader.read(dir.resolve("missing"), 3, 32, 32, Resize.NONE));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    }

    @Test
    void aFileIsNotAFolder(@TempDir Path dir) throws IOException {
        image(dir.resolve("some.png"), 32, 32, 0xFFFFFF, "png");
        DataException e = assertThrows(DataException.class, () -> ImageFolderReader.read(dir.resolve("some.png"), 3, 32, 32, Resize.NONE));
        assertEquals("image folder " + dir.resolve("some.png") + " is a file, not a folder", e.getMessage());
    }

    @Test
    void damagedImagesAreNamed(@TempDir Path dir) throws IOException {
        image(dir.resolve("a.png"), 32, 32, 0x123456, "png");
        byte[] png = Files.readAllBytes(dir.resolve("a.png"));
        Files.write(dir.resolve("b.png"), java.util.Arrays.copyOf(png, png.length / 2));  // truncated in its pixel data
        DataException e = assertThrows(DataException.class, () -> ImageFolderReader.read(dir, 3, 32, 32, Resize.NONE));
        assertTrue(e.getMessage().startsWith("image " + dir.resolve("b.png") + " cannot be decoded"), e.getMessage());
        // A header claiming 100000 x 100000 pixels is refused from the header, before any pixel is allocated.
        java.nio.ByteBuffer.wrap(png, 16, 8).putInt(100_000).putInt(100_000);
        Files.write(dir.resolve("b.png"), png);
        e = assertThrows(DataException.class, () -> ImageFolderReader.read(dir, 3, 32, 32, Resize.STRETCH));
        assertTrue(e.getMessage().contains("b.png is 100000x100000, more than"), e.getMessage());
    }
}
