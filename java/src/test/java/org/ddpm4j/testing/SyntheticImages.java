package org.ddpm4j.testing;

import java.awt.Color;
import java.util.SplittableRandom;

/**
 * Draws seeded 3x32x32 pictures whose look depends on their class, for tests that train or sample
 * without the real CIFAR-10 files: a smooth two-colour gradient (the colours and the direction
 * set by the class, jittered) with a soft blob of a third class colour somewhere on it, and a
 * little pixel noise. Smooth structure a model can learn makes the DDPM loss fall clearly, as it
 * does on real images; pure noise would not.
 */
final class SyntheticImages {
    static final int CHANNELS = 3;
    static final int SIDE = 32;
    static final int IMAGE_BYTES = CHANNELS * SIDE * SIDE;

    private SyntheticImages() {}

    /** Draws one picture of class {@code label} (0-9) into {@code dst} at {@code offset}, channel-major (C, H, W). */
    static void draw(int label, SplittableRandom rnd, byte[] dst, int offset) {
        float hue = label / 10f + (float) rnd.nextDouble(-0.02, 0.02);
        float[] from = rgb(hue, 0.7f, 0.85f), to = rgb(hue + 0.5f, 0.5f, 0.3f), blob = rgb(hue + 0.33f, 0.9f, 1f);
        double angle = label * Math.PI / 5 + rnd.nextDouble(-0.3, 0.3);
        double dx = Math.cos(angle), dy = Math.sin(angle);
        double cx = rnd.nextDouble(8, 24), cy = rnd.nextDouble(8, 24), sigma = rnd.nextDouble(3, 6);
        double half = (SIDE - 1) / 2.0, span = SIDE * Math.sqrt(2);
        for (int y = 0; y < SIDE; y++) {
            for (int x = 0; x < SIDE; x++) {
                double t = ((x - half) * dx + (y - half) * dy) / span + 0.5;  // 0..1 along the gradient
                double w = Math.exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (2 * sigma * sigma));
                for (int c = 0; c < CHANNELS; c++) {
                    double v = (1 - w) * (from[c] + (to[c] - from[c]) * t) + w * blob[c];
                    int level = (int) Math.round(255 * v + rnd.nextInt(-3, 4));
                    dst[offset + (c * SIDE + y) * SIDE + x] = (byte) Math.max(0, Math.min(255, level));
                }
            }
        }
    }

    /**
     * {@code n} labels with every class as often as n allows (each class n/10 times when n is a multiple of 10),
     * in a seeded order.
     */
    static byte[] balancedLabels(int n, int classes, SplittableRandom rnd) {
        byte[] labels = new byte[n];
        for (int i = 0; i < n; i++) labels[i] = (byte) (i % classes);
        for (int i = n - 1; i > 0; i--) {  // Fisher-Yates
            int j = rnd.nextInt(i + 1);
            byte b = labels[i];
            labels[i] = labels[j];
            labels[j] = b;
        }
        return labels;
    }

    private static float[] rgb(float hue, float saturation, float brightness) {
        int c = Color.HSBtoRGB(hue, saturation, brightness);
        return new float[] {((c >> 16) & 0xff) / 255f, ((c >> 8) & 0xff) / 255f, (c & 0xff) / 255f};
    }
}
