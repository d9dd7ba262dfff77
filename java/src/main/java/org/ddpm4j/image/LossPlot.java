package org.ddpm4j.image;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.util.Locale;

/**
 * The loss curve: raw per-step losses in light grey, an exponential moving average
 * in blue, on a log-scale y axis (DDPM losses fall by orders of magnitude early on)
 * with labelled ticks. Drawn with Java2D, headless.
 */
public final class LossPlot {
    static {
        System.setProperty("java.awt.headless", "true");
    }

    public static final int WIDTH = 800;
    public static final int HEIGHT = 400;

    private LossPlot() {}

    /** Exponential moving average with bias correction (as TensorBoard's smoothing). NaNs are skipped. */
    public static double[] smooth(float[] v, double weight) {
        double[] out = new double[v.length];
        double last = 0, norm = 0;
        for (int i = 0; i < v.length; i++) {
            if (Float.isFinite(v[i])) {
                last = weight * last + (1 - weight) * v[i];
                norm = weight * norm + (1 - weight);
            }
            out[i] = norm > 0 ? last / norm : Double.NaN;
        }
        return out;
    }

    /** Set when the JVM's font system failed to load (e.g. no libharfbuzz or fonts on a bare server). */
    private static volatile boolean fontsBroken;

    /** True when text can be drawn here; false after the font system failed once. */
    public static boolean textAvailable() {
        return !fontsBroken;
    }

    /**
     * The plot; its labels are left out (the curves, grid and legend lines stay) when
     * the JVM cannot render text, so a bare server never loses a run over a chart.
     */
    public static BufferedImage render(long[] steps, float[] losses, int width, int height, String title) {
        return render(steps, losses, width, height, title, !fontsBroken);
    }

    static BufferedImage render(long[] steps, float[] losses, int width, int height, String title, boolean withText) {
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);
        Text fm = new Text(g, withText);
        int left = 70, right = 20, top = 30, bottom = 45;
        int pw = width - left - right, ph = height - top - bottom;
        g.setColor(Color.BLACK);
        fm.draw(title, left, 18);
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        for (float l : losses) {
            if (Float.isFinite(l) && l > 0) {
                lo = Math.min(lo, l);
                hi = Math.max(hi, l);
            }
        }
        if (steps.length == 0 || !Double.isFinite(lo)) {
            fm.draw("no losses recorded", left + pw / 2 - 50, top + ph / 2);
            g.dispose();
            return img;
        }
        double ylo = Math.floor(Math.log10(lo) * 4) / 4, yhi = Math.ceil(Math.log10(hi) * 4) / 4;
        if (yhi - ylo < 0.25) yhi = ylo + 0.25;
        long x0 = steps[0], x1 = Math.max(steps[steps.length - 1], x0 + 1);
        // Grid and ticks.
        g.setStroke(new BasicStroke(1f));
        for (double e = Math.floor(ylo); e <= yhi; e++) {
            for (int m : new int[] {1, 2, 5}) {
                double v = Math.log10(m) + e;
                if (v < ylo - 1e-9 || v > yhi + 1e-9) continue;
                int y = top + (int) Math.round(ph * (yhi - v) / (yhi - ylo));
                g.setColor(new Color(230, 230, 230));
                g.drawLine(left, y, left + pw, y);
                g.setColor(Color.DARK_GRAY);
                String s = formatTick(Math.pow(10, v));
                fm.draw(s, left - 6 - fm.stringWidth(s), y + fm.getAscent() / 2 - 1);
            }
        }
        for (int k = 0; k <= 5; k++) {
            long st = x0 + Math.round((x1 - x0) * k / 5.0);
            int x = left + (int) Math.round(pw * (double) (st - x0) / (x1 - x0));
            g.setColor(new Color(230, 230, 230));
            g.drawLine(x, top, x, top + ph);
            g.setColor(Color.DARK_GRAY);
            String s = Long.toString(st);
            fm.draw(s, x - fm.stringWidth(s) / 2, top + ph + fm.getAscent() + 4);
        }
        g.setColor(Color.BLACK);
        g.drawRect(left, top, pw, ph);
        fm.draw("step", left + pw / 2 - fm.stringWidth("step") / 2, height - 8);
        Graphics2D gr = (Graphics2D) g.create();
        gr.rotate(-Math.PI / 2);
        new Text(gr, fm.enabled).draw("MSE loss (log)", -(top + ph / 2) - fm.stringWidth("MSE loss (log)") / 2, 16);
        gr.dispose();
        // Curves, clipped to the plot.
        g.setClip(left + 1, top + 1, pw - 1, ph - 1);
        double[] raw = new double[losses.length];
        for (int i = 0; i < losses.length; i++) raw[i] = losses[i];
        g.setColor(new Color(190, 190, 190));
        g.setStroke(new BasicStroke(1f));
        g.draw(path(steps, raw, x0, x1, ylo, yhi, left, top, pw, ph));
        double weight = Math.min(0.995, Math.max(0.6, 1.0 - 20.0 / losses.length));
        g.setColor(new Color(31, 119, 180));
        g.setStroke(new BasicStroke(2f));
        g.draw(path(steps, smooth(losses, weight), x0, x1, ylo, yhi, left, top, pw, ph));
        g.setClip(null);
        // Legend.
        g.setStroke(new BasicStroke(2f));
        int lx = left + pw - 170, ly = top + 12;
        g.setColor(new Color(190, 190, 190));
        g.drawLine(lx, ly, lx + 20, ly);
        g.setColor(Color.BLACK);
        fm.draw("per step", lx + 26, ly + 4);
        g.setColor(new Color(31, 119, 180));
        g.drawLine(lx + 85, ly, lx + 105, ly);
        g.setColor(Color.BLACK);
        fm.draw("smoothed", lx + 111, ly + 4);
        g.dispose();
        return img;
    }

    /** Text drawing that turns itself off for good when the font system cannot load. */
    private static final class Text {
        private final Graphics2D g;
        private boolean enabled;
        private FontMetrics metrics;

        Text(Graphics2D g, boolean enabled) {
            this.g = g;
            this.enabled = enabled;
            if (enabled) {
                try {
                    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
                    metrics = g.getFontMetrics();
                } catch (Throwable t) {  // UnsatisfiedLinkError, InternalError, NoClassDefFoundError from sun.font
                    broken();
                }
            }
        }

        private void broken() {
            enabled = false;
            fontsBroken = true;
        }

        void draw(String s, int x, int y) {
            if (!enabled) return;
            try {
                g.drawString(s, x, y);
            } catch (Throwable t) {
                broken();
            }
        }

        int stringWidth(String s) {
            return enabled && metrics != null ? metrics.stringWidth(s) : 7 * s.length();
        }

        int getAscent() {
            return enabled && metrics != null ? metrics.getAscent() : 10;
        }
    }

    private static Path2D path(long[] steps, double[] v, long x0, long x1, double ylo, double yhi, int left, int top,
                               int pw, int ph) {
        Path2D.Double p = new Path2D.Double();
        boolean started = false;
        for (int i = 0; i < v.length; i++) {
            if (!(v[i] > 0) || !Double.isFinite(v[i])) continue;
            double x = left + pw * (double) (steps[i] - x0) / (x1 - x0);
            double y = top + ph * (yhi - Math.log10(v[i])) / (yhi - ylo);
            if (started) p.lineTo(x, y);
            else p.moveTo(x, y);
            started = true;
        }
        return p;
    }

    private static String formatTick(double v) {
        if (v >= 0.01 && v < 1000) {
            String s = String.format(Locale.ROOT, "%.3g", v);
            if (s.contains(".")) s = s.replaceAll("0+$", "").replaceAll("\\.$", "");
            return s;
        }
        return String.format(Locale.ROOT, "%.0e", v);
    }
}
