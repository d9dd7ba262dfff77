package org.ddpm4j.image;

import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.Random;

/**
 * Run in a JVM whose font system is broken (see LossPlotTest): reports whether Java2D can
 * draw a string here, then writes the sample loss plot to the PNG named by its argument.
 */
public final class FontlessPlotMain {
    static final String TITLE = "training loss: tiny (base 16, depth 2)";

    private FontlessPlotMain() {}

    /**
     * A run like the tiny preset's: the loss falls from about 1 to 0.05 in the first few
     * hundred steps; its noise (in log space) grows from 0.05 to 0.2 as it flattens, as measured.
     */
    static float[] sampleLosses(int n, long seed) {
        Random r = new Random(seed);
        float[] loss = new float[n];
        for (int i = 0; i < n; i++) {
            double sigma = 0.05 + 0.15 * Math.min(1, i / 300.0);
            loss[i] = (float) ((0.05 + Math.exp(-i / 40.0)) * Math.exp(sigma * r.nextGaussian()));
        }
        return loss;
    }

    static long[] stepsOf(int n) {
        long[] steps = new long[n];
        for (int i = 0; i < n; i++) steps[i] = i + 1;
        return steps;
    }

    static BufferedImage samplePlot() {
        int n = 1563;
        return LossPlot.render(stepsOf(n), sampleLosses(n, 7), LossPlot.WIDTH, LossPlot.HEIGHT, TITLE);
    }

    /** "works" when this JVM can draw a string, else "broken: " and why. */
    static String fontSystem() {
        try {
            Graphics2D g = new BufferedImage(10, 10, BufferedImage.TYPE_INT_RGB).createGraphics();
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
            g.drawString("x", 1, 9);
            g.getFontMetrics().stringWidth("x");
            g.dispose();
            return "works";
        } catch (Throwable t) {  // UnsatisfiedLinkError, InternalError, NoClassDefFoundError from sun.font
            return "broken: " + t;
        }
    }

    public static void main(String[] args) throws Exception {
        System.setProperty("java.awt.headless", "true");
        System.out.println("font system: " + fontSystem());
        PngFiles.write(samplePlot(), Path.of(args[0]));
    }
}
