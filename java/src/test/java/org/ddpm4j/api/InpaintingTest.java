package org.ddpm4j.api;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import org.ddpm4j.sample.SamplerKind;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** RePaint inpainting from the Java API: the kept pixels are the known image's, byte for byte; the errors. */
class InpaintingTest {
    @TempDir
    static Path dir;
    static Path tiny;

    @BeforeAll
    static void train() {
        tiny = Discs.tiny().data(TrainingData.images(Discs.pictures(16, 3))).steps(3).outputDir(dir.resolve("tiny")).train()
                .checkpoint();
    }

    /** A 32x32 picture with a different colour in every pixel. */
    static BufferedImage picture() {
        BufferedImage img = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 32; y++) for (int x = 0; x < 32; x++) img.setRGB(x, y, (x * 8) << 16 | (y * 8) << 8 | ((x + y) * 4));
        return img;
    }

    /** White (painted) in the square [8, 24) x [8, 24), black (kept) elsewhere. */
    static BufferedImage mask() {
        BufferedImage m = new BufferedImage(32, 32, BufferedImage.TYPE_BYTE_GRAY);
        Graphics2D g = m.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(8, 8, 16, 16);
        g.dispose();
        return m;
    }

    @Test
    void keepsTheImageWhereTheMaskIsBlackAndPaintsTheRest() {
        BufferedImage known = picture();
        try (DiffusionModel m = DiffusionModel.load(tiny, Compute.cpu().withThreads(2))) {
            SampleRequest r = SampleRequest.of(3).withSeed(4).withInpainting(known, mask()).withSampler(SamplerKind.DDIM, 8)
                    .withRepaintJumps(2, 2).withStrip(0, 2).withMidStep(-1);
            Samples s = m.sample(r);
            int painted = 0;
            for (int k = 0; k < 3; k++) {
                BufferedImage img = s.image(k);
                for (int y = 0; y < 32; y++) {
                    for (int x = 0; x < 32; x++) {
                        boolean inside = x >= 8 && x < 24 && y >= 8 && y < 24;
                        int got = img.getRGB(x, y) & 0xffffff, want = known.getRGB(x, y) & 0xffffff;
                        if (!inside) assertEquals(want, got, "image " + k + " pixel " + x + "," + y);
                        else if (got != want) painted++;
                    }
                }
            }
            assertTrue(painted > 0.9 * 3 * 256, painted + " of the 768 painted pixels differ from the known image");
            // The same request draws the same images.
            assertArrayEquals(s.values(), m.sample(r).values());
        }
    }

    /** Pictures of another size are scaled when asked (withResize), refused otherwise; image-to-image too. */
    @Test
    void resizesPicturesWhenAsked() {
        BufferedImage big = new BufferedImage(64, 48, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 48; y++) for (int x = 0; x < 64; x++) big.setRGB(x, y, (x * 4) << 16 | (y * 5) << 8 | 99);
        BufferedImage bigMask = new BufferedImage(64, 48, BufferedImage.TYPE_BYTE_GRAY);
        try (DiffusionModel m = DiffusionModel.load(tiny, Compute.cpu().withThreads(2))) {
            InvalidInputException e = assertThrows(InvalidInputException.class,
                    () -> m.sample(SampleRequest.of(1).withInitImage(big, 0.3)));
            assertTrue(e.getMessage().contains("init image is 64x48, the model's images are 32x32 (resize crop or stretch scales it)"),
                    e.getMessage());
            Samples s = m.sample(SampleRequest.of(2).withInitImage(big, 0.3).withResize(org.ddpm4j.data.Resize.CROP)
                    .withSampler(SamplerKind.DDIM, 10).withStrip(0, 2).withMidStep(-1));
            assertEquals(32, s.image(0).getWidth());
            // An all-black mask keeps the whole (stretched) picture: the samples are that picture.
            Samples kept = m.sample(SampleRequest.of(1).withInpainting(big, bigMask).withResize(org.ddpm4j.data.Resize.STRETCH)
                    .withSampler(SamplerKind.DDIM, 4).withRepaintJumps(2, 1).withStrip(0, 2).withMidStep(-1));
            Samples again = m.sample(SampleRequest.of(1).withInpainting(big, bigMask).withResize(org.ddpm4j.data.Resize.STRETCH)
                    .withSampler(SamplerKind.DDIM, 4).withRepaintJumps(2, 1).withSeed(9).withStrip(0, 2).withMidStep(-1));
            assertArrayEquals(kept.bytesHwc(), again.bytesHwc(), "a fully kept picture does not depend on the noise");
        }
    }

    @Test
    void refusesWhatCannotBeInpainted() {
        try (DiffusionModel m = DiffusionModel.load(tiny, Compute.cpu().withThreads(2))) {
            BufferedImage small = new BufferedImage(16, 16, BufferedImage.TYPE_INT_RGB);
            InvalidInputException e = assertThrows(InvalidInputException.class,
                    () -> m.sample(SampleRequest.of(1).withInpainting(small, mask())));
            assertTrue(e.getMessage().contains("is 16x16, the model's images are 32x32"), e.getMessage());
            e = assertThrows(InvalidInputException.class,
                    () -> m.sample(SampleRequest.of(1).withInpainting(picture(), mask()).withSampler(SamplerKind.DPM_SOLVER)));
            assertTrue(e.getMessage().contains("RePaint"), e.getMessage());
            e = assertThrows(InvalidInputException.class, () -> SampleRequest.of(1).withInpainting(picture(), null));
            assertTrue(e.getMessage().contains("mask"), e.getMessage());
            e = assertThrows(InvalidInputException.class, () -> SampleRequest.of(1).withRepaintJumps(0, 10));
            assertTrue(e.getMessage().contains("jumpLength"), e.getMessage());
            e = assertThrows(InvalidInputException.class,
                    () -> m.sample(SampleRequest.of(1).withInpainting(picture(), mask()).withSampler(SamplerKind.DDIM, 41)));
            assertTrue(e.getMessage().contains("for inpainting"), e.getMessage());
        }
    }
}
