package org.ddpm4j.image;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.Rectangle;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.ddpm4j.image.LossPlot.Chart;
import org.ddpm4j.image.LossPlot.Text;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LossPlotTest {
    private static final int N = 1563;

    private static Chart sample(String title) {
        return LossPlot.draw(FontlessPlotMain.stepsOf(N), FontlessPlotMain.sampleLosses(N, 7), LossPlot.WIDTH,
                LossPlot.HEIGHT, title);
    }

    /** Pixels of exactly the text colour in r (curves, grid and legend frame are other colours). */
    private static int ink(BufferedImage img, Rectangle r) {
        Rectangle in = r.intersection(new Rectangle(0, 0, img.getWidth(), img.getHeight()));
        int n = 0;
        for (int y = in.y; y < in.y + in.height; y++) {
            for (int x = in.x; x < in.x + in.width; x++) if ((img.getRGB(x, y) & 0xFFFFFF) == (LossPlot.INK.getRGB() & 0xFFFFFF)) n++;
        }
        return n;
    }

    @Test
    void titleAxisLabelsTicksAndLegendAreDrawnInTheirPlaces() {
        Chart c = sample(FontlessPlotMain.TITLE);
        BufferedImage img = c.image();
        assertEquals(800, img.getWidth());
        assertEquals(400, img.getHeight());
        Rectangle p = c.plot();
        Map<Text, Rectangle> t = c.text();
        for (Text kind : List.of(Text.TITLE, Text.X_LABEL, Text.Y_LABEL, Text.X_TICKS, Text.Y_TICKS, Text.LEGEND)) {
            Rectangle r = t.get(kind);
            assertNotNull(r, kind + " drawn");
            assertTrue(new Rectangle(0, 0, 800, 400).contains(r), kind + " inside the image: " + r);
            int ink = ink(img, r);
            assertTrue(ink >= 0.15 * r.width * r.height / 4, kind + ": " + ink + " text pixels in " + r);
        }
        assertFalse(t.containsKey(Text.MESSAGE));
        // Each in its margin: title above the plot, ticks and labels left of and below it, legend inside.
        assertTrue(t.get(Text.TITLE).getMaxY() <= p.y);
        assertTrue(t.get(Text.Y_TICKS).getMaxX() <= p.x && t.get(Text.Y_LABEL).getMaxX() <= t.get(Text.Y_TICKS).x);
        assertTrue(t.get(Text.X_TICKS).y >= p.getMaxY() && t.get(Text.X_LABEL).y >= t.get(Text.X_TICKS).getMaxY());
        assertTrue(p.contains(t.get(Text.LEGEND)));
        assertTrue(t.get(Text.Y_LABEL).height > 5 * t.get(Text.Y_LABEL).width, "the y label reads upwards");
        // The margins hold text wherever the boxes say: count without them too.
        assertTrue(ink(img, new Rectangle(0, 0, 800, p.y)) > 300, "text above the plot");
        assertTrue(ink(img, new Rectangle(0, p.y + 1, p.x, p.height - 1)) > 300, "text left of the plot");
        assertTrue(ink(img, new Rectangle(0, p.y + p.height + 1, 800, 400 - p.y - p.height - 1)) > 300, "text below the plot");
    }

    @Test
    void aDifferentTitleChangesTheTitlePixelsOnly() {
        Chart a = sample("training loss: run A"), b = sample("training loss: run B");
        Rectangle title = a.text().get(Text.TITLE).union(b.text().get(Text.TITLE));
        int inside = 0, outside = 0;
        for (int y = 0; y < 400; y++) {
            for (int x = 0; x < 800; x++) {
                if (a.image().getRGB(x, y) == b.image().getRGB(x, y)) continue;
                if (title.contains(x, y)) inside++;
                else outside++;
            }
        }
        assertTrue(inside > 10, inside + " title pixels differ");
        assertEquals(0, outside, "pixels outside the title");
    }

    @Test
    void curvesAreDrawn() {
        BufferedImage img = sample("t").image();
        int blue = 0, grey = 0;
        for (int y = 0; y < 400; y++) {
            for (int x = 0; x < 800; x++) {
                int rgb = img.getRGB(x, y) & 0xFFFFFF;
                if (rgb == (LossPlot.SMOOTHED.getRGB() & 0xFFFFFF)) blue++;
                if (rgb == (LossPlot.RAW.getRGB() & 0xFFFFFF)) grey++;
            }
        }
        assertTrue(blue > 1000, blue + " pixels of the smoothed curve");
        assertTrue(grey > 1000, grey + " pixels of the per-step curve");
    }

    @Test
    void emptySingleAndMismatchedInputs() {
        Chart empty = LossPlot.draw(new long[0], new float[0], 800, 400, "empty");
        assertTrue(ink(empty.image(), empty.text().get(Text.MESSAGE)) > 50, "says there are no losses");
        Chart nan = LossPlot.draw(new long[] {5}, new float[] {Float.NaN}, 800, 400, "nan");
        assertNotNull(nan.text().get(Text.MESSAGE));
        Chart one = LossPlot.draw(new long[] {5}, new float[] {0.3f}, 800, 400, "one");
        assertNull(one.text().get(Text.MESSAGE));
        assertNotNull(one.text().get(Text.Y_TICKS));
        Chart small = LossPlot.draw(new long[] {0, 1}, new float[] {1f, 0.5f}, 300, 150, "small");
        assertNotNull(small.text().get(Text.LEGEND));
        assertThrows(IllegalArgumentException.class, () -> LossPlot.draw(new long[2], new float[3], 800, 400, "x"));
    }

    @Test
    void aLongTitleIsCutToTheWidth() {
        String title = "training loss: " + "x".repeat(200);
        Chart c = sample(title);
        assertTrue(c.text().get(Text.TITLE).getMaxX() <= 800);
        String cut = LossPlot.fit(title, 400, 2);
        assertTrue(cut.endsWith("...") && BitmapFont.width(cut, 2) <= 400, cut);
        assertEquals("short", LossPlot.fit("short", 400, 2));
    }

    @Test
    void tickValues() {
        assertEquals(List.of("0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1"),
                LossPlot.logTicks(-2, 0).stream().map(LossPlot::formatTick).toList());
        // Less than half a decade: every digit, so there are at least three ticks.
        assertEquals(List.of("0.02", "0.03"),
                LossPlot.logTicks(-1.75, -1.5).stream().map(LossPlot::formatTick).toList().subList(0, 2));
        assertTrue(LossPlot.logTicks(-1.75, -1.5).size() >= 2);
        assertEquals("1e-05", LossPlot.formatTick(-5));
        assertEquals("0.001", LossPlot.formatTick(-3));
        assertEquals("2000", LossPlot.formatTick(Math.log10(2000)));
        assertEquals(List.of(0L, 200L, 400L, 600L, 800L, 1000L, 1200L, 1400L), LossPlot.linearTicks(0, 1563));
        assertEquals(List.of(1000L, 1002L, 1004L), LossPlot.linearTicks(999, 1010).subList(0, 3));
        assertEquals(List.of(5L, 6L), LossPlot.linearTicks(5, 6));
    }

    /** Median of v over [i - k, i + k] cut to the run. */
    private static double runningMedian(float[] v, int i, int k) {
        float[] w = Arrays.copyOfRange(v, Math.max(0, i - k), Math.min(v.length, i + k + 1));
        Arrays.sort(w);
        return w.length % 2 == 1 ? w[w.length / 2] : 0.5 * (w[w.length / 2 - 1] + w[w.length / 2]);
    }

    /** Worst factor between the curve and the raw losses' running median over the first quarter. */
    private static double worstEarlyFactor(float[] loss, double[] smoothed) {
        double worst = 1;
        for (int i = 0; i < loss.length / 4; i++) {
            double r = smoothed[i] / runningMedian(loss, i, 5);
            worst = Math.max(worst, Math.max(r, 1 / r));
        }
        return worst;
    }

    @Test
    void smoothedCurveFollowsTheRawLossesFromTheFirstStep() {
        for (int n : new int[] {200, 1563, 20000}) {
            float[] loss = FontlessPlotMain.sampleLosses(n, 11);
            double[] s = LossPlot.smooth(loss, LossPlot.smoothingHalfWidth(n));
            double worst = worstEarlyFactor(loss, s);
            assertTrue(worst < 1.5, n + " steps: the smoothed curve is " + worst + "x off the running median early on");
            assertEquals(loss[0], s[0], 1e-6, "the first point is the first loss");
            // The previous smoothing (an EMA with bias correction, weight 1 - 20/n, in linear space)
            // trails the early fall far above the losses in runs of a useful length; the measure
            // above catches that.
            double[] ema = new double[n];
            double last = 0, norm = 0, weight = Math.min(0.995, Math.max(0.6, 1.0 - 20.0 / n));
            for (int i = 0; i < n; i++) {
                last = weight * last + (1 - weight) * loss[i];
                norm = weight * norm + (1 - weight);
                ema[i] = last / norm;
            }
            double old = worstEarlyFactor(loss, ema);
            System.out.printf("%d steps: smoothed curve at most %.3fx off the running median in the first quarter, the old EMA %.3fx%n",
                    n, worst, old);
            if (n >= 1000) assertTrue(old > 1.5, n + " steps: the old EMA is only " + old + "x off");
        }
    }

    @Test
    void smoothingSkipsInvalidLossesAndUsesAGeometricMean() {
        double[] s = LossPlot.smooth(new float[] {1f, Float.NaN, 0.01f, 0f, -1f, Float.POSITIVE_INFINITY, 0.01f}, 2);
        assertEquals(1.0, s[0], 1e-12);
        assertEquals(0.01, s[2], 1e-9, "the window of step 2 is 1..3: one valid loss");
        assertEquals(0.01, s[4], 1e-9, "2..6");
        double[] g = LossPlot.smooth(new float[] {1f, 100f, 0.01f, 1f, 1f}, 2);
        assertEquals(1.0, g[2], 1e-6, "the geometric mean of 100, 0.01 and 1 (their mean is 33.7)");
        assertEquals(Math.pow(0.01, 1 / 3.0), g[4], 1e-6, "cut at the end: 0.01, 1, 1");
        assertTrue(Double.isNaN(LossPlot.smooth(new float[] {Float.NaN, 0f}, 3)[1]));
        assertEquals(0, LossPlot.smooth(new float[0], 3).length);
    }

    /**
     * The plot in a JVM that cannot load its font library (an empty libfreetype.so.6 first
     * on the library path, as on a host without freetype; FONTCONFIG_FILE pointing nowhere)
     * is the same image, pixel for pixel, as here.
     */
    @Test
    void thePlotIsCompleteInAJvmWithoutAFontSystem(@TempDir Path dir) throws IOException, InterruptedException {
        Path lib = Files.createDirectories(dir.resolve("lib"));
        Files.write(lib.resolve("libfreetype.so.6"), new byte[0]);
        Files.write(lib.resolve("libharfbuzz.so.0"), new byte[0]);
        Path png = dir.resolve("loss.png");
        ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Djava.awt.headless=true", "-cp", System.getProperty("java.class.path"),
                FontlessPlotMain.class.getName(), png.toString()).redirectErrorStream(true);
        pb.environment().put("LD_LIBRARY_PATH", lib.toString());
        pb.environment().put("FONTCONFIG_FILE", "/nonexistent/fonts.conf");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the child JVM finished");
        assertEquals(0, p.exitValue(), out);
        Assumptions.assumeTrue(out.contains("font system: broken"), "this JDK's text did not depend on the hidden libraries: " + out);
        BufferedImage there = ImageIO.read(png.toFile()), here = FontlessPlotMain.samplePlot();
        assertEquals(here.getWidth(), there.getWidth());
        assertEquals(here.getHeight(), there.getHeight());
        for (int y = 0; y < here.getHeight(); y++) {
            for (int x = 0; x < here.getWidth(); x++) {
                assertEquals(here.getRGB(x, y), there.getRGB(x, y), "pixel " + x + "," + y + " (child said: " + out.strip() + ")");
            }
        }
        System.out.println("font-less JVM: " + out.strip() + "; its plot equals this one's");
    }
}
