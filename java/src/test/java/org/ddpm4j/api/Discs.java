package org.ddpm4j.api;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.OutputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Synthetic pictures for API tests: a disc of a random colour somewhere on black, 32x32, and the same as CHW bytes. */
final class Discs {
    static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

    private Discs() {}

    static List<BufferedImage> pictures(int n, long seed) {
        Random rnd = new Random(seed);
        List<BufferedImage> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            BufferedImage img = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = img.createGraphics();
            g.setColor(new Color(rnd.nextInt(0x1000000)));
            g.fillOval(rnd.nextInt(20), rnd.nextInt(20), 12, 12);
            g.dispose();
            out.add(img);
        }
        return out;
    }

    /** Each picture as uint8 (C, H, W): the red plane, the green one, the blue one. */
    static List<byte[]> chw(List<BufferedImage> pictures) {
        List<byte[]> out = new ArrayList<>();
        for (BufferedImage img : pictures) {
            int w = img.getWidth(), h = img.getHeight(), hw = w * h;
            byte[] b = new byte[3 * hw];
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int rgb = img.getRGB(x, y), i = y * w + x;
                    b[i] = (byte) (rgb >> 16);
                    b[hw + i] = (byte) (rgb >> 8);
                    b[2 * hw + i] = (byte) rgb;
                }
            }
            out.add(b);
        }
        return out;
    }

    /** A tiny model's trainer (base 4, T = 40, batch 8, losses read every step) on the CPU, quiet. */
    static Trainer tiny() {
        return Trainer.newModel().baseWidth(4).timesteps(40).batch(8).logEvery(1).sampleEvery(0).compute(Compute.cpu().withThreads(2))
                .log(QUIET);
    }
}
