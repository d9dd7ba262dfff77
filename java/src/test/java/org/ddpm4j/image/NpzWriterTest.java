package org.ddpm4j.image;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import javax.imageio.ImageIO;
import org.ddpm4j.sample.Images;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The .npz for evaluators: numpy's format, HWC uint8 as the PNGs, streamed in order, all or nothing. */
class NpzWriterTest {
    static Images images(int n, int seed) {
        java.util.Random r = new java.util.Random(seed);
        float[] d = new float[n * 3 * 4 * 5];
        for (int i = 0; i < d.length; i++) d[i] = r.nextFloat() * 2.4f - 1.2f;  // some outside [-1, 1]
        return new Images(n, 3, 4, 5, d);
    }

    /** The single entry of a zip file. */
    static byte[] entry(Path zip, String name) throws IOException {
        try (InputStream in = Files.newInputStream(zip); ZipInputStream z = new ZipInputStream(in)) {
            ZipEntry e = z.getNextEntry();
            assertNotNull(e);
            assertEquals(name, e.getName());
            byte[] b = z.readAllBytes();
            assertNull(z.getNextEntry(), "one entry only");
            return b;
        }
    }

    @Test
    void writesArr0AsUint8NHWCInNumpysFormat(@TempDir Path dir) throws IOException {
        Images a = images(3, 1), b = images(2, 2);
        Path f = dir.resolve("samples.npz");
        try (NpzWriter w = new NpzWriter(f, 5, 3, 4, 5)) {
            w.accept(0, a);
            assertFalse(Files.exists(f), "nothing appears before finish");
            w.accept(3, b);
            w.finish();
        }
        byte[] npy = entry(f, "arr_0.npy");
        assertEquals((byte) 0x93, npy[0]);
        assertEquals("NUMPY", new String(npy, 1, 5, StandardCharsets.US_ASCII));
        assertEquals(1, npy[6]);
        int headerLen = (npy[8] & 0xff) | (npy[9] & 0xff) << 8;
        assertEquals(0, (10 + headerLen) % 64, "numpy aligns the data to 64 bytes");
        String header = new String(npy, 10, headerLen, StandardCharsets.US_ASCII);
        assertTrue(header.startsWith("{'descr': '|u1', 'fortran_order': False, 'shape': (5, 4, 5, 3), }"), header);
        assertTrue(header.endsWith("\n"));
        int data = 10 + headerLen;
        assertEquals(data + 5 * 4 * 5 * 3, npy.length);
        for (int n = 0; n < 5; n++) {
            Images src = n < 3 ? a : b;
            int k = n < 3 ? n : n - 3;
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 4; y++)
                    for (int x = 0; x < 5; x++) {
                        int want = ImageGrid.toByte(src.data()[k * 60 + c * 20 + y * 5 + x]);
                        assertEquals(want, npy[data + ((n * 4 + y) * 5 + x) * 3 + c] & 0xff, "n" + n + " c" + c + " y" + y + " x" + x);
                    }
        }
        assertFalse(Files.exists(dir.resolve("samples.npz.tmp")));
    }

    @Test
    void thePngsHoldTheSamePixels(@TempDir Path dir) throws IOException {
        Images a = images(2, 3);
        new PngFolder(dir).accept(10, a);
        BufferedImage img = ImageIO.read(dir.resolve("sample-00011.png").toFile());
        assertEquals(5, img.getWidth());
        assertEquals(4, img.getHeight());
        int rgb = img.getRGB(2, 1);
        for (int c = 0; c < 3; c++) assertEquals(ImageGrid.toByte(a.data()[60 + c * 20 + 5 + 2]), (rgb >> (16 - 8 * c)) & 0xff);
        assertTrue(Files.exists(dir.resolve("sample-00010.png")));
    }

    @Test
    void outOfOrderOrIncompleteRunsLeaveNoFile(@TempDir Path dir) {
        Path f = dir.resolve("x.npz");
        try (NpzWriter w = new NpzWriter(f, 5, 3, 4, 5)) {
            assertThrows(IllegalStateException.class, () -> w.accept(2, images(1, 1)));
            w.accept(0, images(3, 1));
            IllegalStateException e = assertThrows(IllegalStateException.class, w::finish);
            assertTrue(e.getMessage().contains("3 of 5"), e.getMessage());
        }
        assertFalse(Files.exists(f));
        assertFalse(Files.exists(dir.resolve("x.npz.tmp")), "the temporary file is removed");
    }
}
