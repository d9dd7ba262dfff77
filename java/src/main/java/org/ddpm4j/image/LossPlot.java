package org.ddpm4j.image;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.Rectangle;
import java.awt.RenderingHints;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The loss curve: raw per-step losses in light grey and a smoothed curve in blue, on a
 * log-scale y axis (DDPM losses fall by orders of magnitude early on), with a title, axis
 * labels, tick values and a legend. Headless Java2D; all text is drawn with
 * {@link BitmapFont}, so the plot is complete on a JVM without a working font system.
 */
public final class LossPlot {
    static {
        System.setProperty("java.awt.headless", "true");
    }

    public static final int WIDTH = 800;
    public static final int HEIGHT = 400;

    static final Color INK = Color.BLACK;
    static final Color RAW = new Color(190, 190, 190);
    static final Color SMOOTHED = new Color(31, 119, 180);
    private static final Color GRID = new Color(230, 230, 230);
    static final String X_LABEL = "step";
    static final String Y_LABEL = "MSE loss (log scale)";

    private LossPlot() {}

    /** The pieces of text a plot has; {@link Chart#text} says where each went. */
    enum Text { TITLE, X_LABEL, Y_LABEL, X_TICKS, Y_TICKS, LEGEND, MESSAGE }

    /** A rendered plot with the frame of its data area and the bounding box of each text. */
    record Chart(BufferedImage image, Rectangle plot, Map<Text, Rectangle> text) {}

    public static BufferedImage render(long[] steps, float[] losses, int width, int height, String title) {
        return draw(steps, losses, width, height, title).image();
    }

    /**
     * Half-width of the smoothing window for a run of n steps: the window is about 4% of
     * the run, so the curve looks alike at any length.
     */
    static int smoothingHalfWidth(int n) {
        return Math.max(1, Math.round(n / 50f));
    }

    /**
     * The smoothed curve: at step i the geometric mean (a mean in log space) of the losses
     * in a window centred on i, of half-width min(h, i / 2). An EMA, even bias-corrected,
     * trails a loss that falls by orders of magnitude in the first hundred steps; a centred
     * window whose half-width grows with i follows it, and log space keeps the rare large
     * losses from lifting the curve. Near the end the window is cut at the last step
     * (late losses change slowly). NaN, infinite and non-positive losses are left out;
     * a window without any valid loss gives NaN.
     */
    public static double[] smooth(float[] v, int halfWidth) {
        int n = v.length;
        double[] logSum = new double[n + 1];
        int[] count = new int[n + 1];
        for (int i = 0; i < n; i++) {
            boolean ok = Float.isFinite(v[i]) && v[i] > 0;
            logSum[i + 1] = logSum[i] + (ok ? Math.log(v[i]) : 0);
            count[i + 1] = count[i] + (ok ? 1 : 0);
        }
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            int h = Math.min(halfWidth, i / 2);
            int a = i - h, b = Math.min(n - 1, i + h) + 1;
            int c = count[b] - count[a];
            out[i] = c > 0 ? Math.exp((logSum[b] - logSum[a]) / c) : Double.NaN;
        }
        return out;
    }

    static Chart draw(long[] steps, float[] losses, int width, int height, String title) {
        if (steps.length != losses.length) {
            throw new IllegalArgumentException(steps.length + " steps but " + losses.length + " losses");
        }
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);
        Writer w = new Writer(g, Math.max(1, Math.min(width / 400, height / 200)));
        try {
            return drawOn(w, steps, losses, width, height, title, img);
        } finally {
            g.dispose();
        }
    }

    private static Chart drawOn(Writer w, long[] steps, float[] losses, int width, int height, String title,
                                BufferedImage img) {
        Graphics2D g = w.g;
        int s = w.scale, pad = 4 * s;
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        for (float l : losses) {
            if (Float.isFinite(l) && l > 0) {
                lo = Math.min(lo, l);
                hi = Math.max(hi, l);
            }
        }
        boolean empty = !Double.isFinite(lo);
        double ylo = empty ? -2 : Math.floor(Math.log10(lo) * 4) / 4, yhi = empty ? 0 : Math.ceil(Math.log10(hi) * 4) / 4;
        if (yhi - ylo < 0.25) yhi = ylo + 0.25;
        List<Double> yTicks = logTicks(ylo, yhi);
        int tickWidth = 0;
        for (double v : yTicks) tickWidth = Math.max(tickWidth, BitmapFont.width(formatTick(v), s));

        int top = pad + w.lineHeight() + pad;
        int left = pad + w.lineHeight() + pad + tickWidth + pad;
        int bottom = pad + w.lineHeight() + pad + w.lineHeight() + pad;
        int right = 10 * s;
        Rectangle plot = new Rectangle(left, top, width - left - right, height - top - bottom);

        g.setColor(INK);
        w.write(Text.TITLE, fit(title, width - 2 * pad, s), pad, pad + BitmapFont.ASCENT * s);
        w.write(Text.X_LABEL, X_LABEL, plot.x + (plot.width - BitmapFont.width(X_LABEL, s)) / 2,
                height - pad - (BitmapFont.GLYPH_HEIGHT - BitmapFont.ASCENT) * s);
        w.writeUp(Text.Y_LABEL, Y_LABEL, pad + BitmapFont.ASCENT * s, plot.y + (plot.height + BitmapFont.width(Y_LABEL, s)) / 2);

        for (double v : yTicks) {
            int y = plot.y + (int) Math.round(plot.height * (yhi - v) / (yhi - ylo));
            g.setColor(GRID);
            g.drawLine(plot.x, y, plot.x + plot.width, y);
            g.setColor(INK);
            String label = formatTick(v);
            w.write(Text.Y_TICKS, label, plot.x - pad - BitmapFont.width(label, s), y + BitmapFont.ASCENT * s / 2);
        }
        long x0 = empty ? 0 : steps[0], x1 = empty ? 1 : Math.max(steps[steps.length - 1], x0 + 1);
        for (long st : linearTicks(x0, x1)) {
            int x = plot.x + (int) Math.round(plot.width * (double) (st - x0) / (x1 - x0));
            g.setColor(GRID);
            g.drawLine(x, plot.y, x, plot.y + plot.height);
            g.setColor(INK);
            String label = Long.toString(st);
            int lx = Math.min(Math.max(x - BitmapFont.width(label, s) / 2, plot.x - pad), width - 1 - BitmapFont.width(label, s));
            w.write(Text.X_TICKS, label, lx, plot.y + plot.height + pad + BitmapFont.ASCENT * s);
        }
        g.setColor(INK);
        g.drawRect(plot.x, plot.y, plot.width, plot.height);
        if (empty) {
            String msg = "no losses recorded";
            w.write(Text.MESSAGE, msg, plot.x + (plot.width - BitmapFont.width(msg, s)) / 2, plot.y + plot.height / 2);
            return new Chart(img, plot, w.boxes);
        }

        // Curves, clipped to the data area.
        int half = smoothingHalfWidth(losses.length);
        Axes axes = new Axes(plot, x0, x1, ylo, yhi);
        g.setClip(plot.x + 1, plot.y + 1, plot.width - 1, plot.height - 1);
        double[] raw = new double[losses.length];
        for (int i = 0; i < losses.length; i++) raw[i] = losses[i];
        g.setColor(RAW);
        g.setStroke(new BasicStroke(1f));
        g.draw(axes.path(steps, raw));
        g.setColor(SMOOTHED);
        g.setStroke(new BasicStroke(1.5f * s));
        g.draw(axes.path(steps, smooth(losses, half)));
        g.setClip(null);

        legend(w, plot, new String[] {"per step", "smoothed (geometric mean, " + (2 * half + 1) + " steps)"},
                new Color[] {RAW, SMOOTHED});
        return new Chart(img, plot, w.boxes);
    }

    /** A white box in the top-right corner of the plot: a line sample and a label per curve. */
    private static void legend(Writer w, Rectangle plot, String[] labels, Color[] colors) {
        Graphics2D g = w.g;
        int s = w.scale, pad = 4 * s, sample = 12 * s, row = w.lineHeight() + pad;
        int textWidth = 0;
        for (String l : labels) textWidth = Math.max(textWidth, BitmapFont.width(l, s));
        int bw = pad + sample + pad + textWidth + pad, bh = pad + labels.length * row;
        int bx = plot.x + plot.width - pad - bw, by = plot.y + pad;
        g.setColor(Color.WHITE);
        g.fillRect(bx, by, bw, bh);
        g.setColor(RAW);
        g.setStroke(new BasicStroke(1f));
        g.drawRect(bx, by, bw, bh);
        for (int k = 0; k < labels.length; k++) {
            int baseline = by + pad + k * row + BitmapFont.ASCENT * s;
            int mid = baseline - BitmapFont.ASCENT * s / 2;
            g.setColor(colors[k]);
            g.setStroke(new BasicStroke(k == 0 ? 1f : 1.5f * s));
            g.drawLine(bx + pad, mid, bx + pad + sample, mid);
            g.setColor(INK);
            w.write(Text.LEGEND, labels[k], bx + pad + sample + pad, baseline);
        }
    }

    /** Text through {@link BitmapFont}, remembering the bounding box of each kind. */
    private static final class Writer {
        final Graphics2D g;
        final int scale;
        final Map<Text, Rectangle> boxes = new EnumMap<>(Text.class);
        private final BitmapFont font = BitmapFont.standard();

        Writer(Graphics2D g, int scale) {
            this.g = g;
            this.scale = scale;
        }

        int lineHeight() {
            return BitmapFont.GLYPH_HEIGHT * scale;
        }

        void write(Text kind, String s, int x, int baseline) {
            font.draw(g, s, x, baseline, scale);
            mark(kind, new Rectangle(x, baseline - BitmapFont.ASCENT * scale, BitmapFont.width(s, scale), lineHeight()));
        }

        /** Text reading upwards, starting at (x, y): its baseline is the vertical line at x. */
        void writeUp(Text kind, String s, int x, int y) {
            Graphics2D r = (Graphics2D) g.create();
            r.translate(x, y);
            r.rotate(-Math.PI / 2);
            font.draw(r, s, 0, 0, scale);
            r.dispose();
            int w = BitmapFont.width(s, scale);
            mark(kind, new Rectangle(x - BitmapFont.ASCENT * scale, y - w, lineHeight(), w));
        }

        private void mark(Text kind, Rectangle r) {
            boxes.merge(kind, r, Rectangle::union);
        }
    }

    /** Data to pixel coordinates: linear steps, log10 losses. */
    private record Axes(Rectangle plot, long x0, long x1, double ylo, double yhi) {
        Path2D path(long[] steps, double[] v) {
            Path2D.Double p = new Path2D.Double();
            boolean started = false;
            for (int i = 0; i < v.length; i++) {
                if (!(v[i] > 0) || !Double.isFinite(v[i])) continue;
                double x = plot.x + plot.width * (double) (steps[i] - x0) / (x1 - x0);
                double y = plot.y + plot.height * (yhi - Math.log10(v[i])) / (yhi - ylo);
                if (started) p.lineTo(x, y);
                else p.moveTo(x, y);
                started = true;
            }
            return p;
        }
    }

    /** log10 values of 1-2-5 ticks between lo and hi (log10), or of every digit where those give fewer than 3. */
    static List<Double> logTicks(double lo, double hi) {
        List<Double> ticks = new ArrayList<>();
        for (int[] mantissas : new int[][] {{1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
            ticks.clear();
            for (double e = Math.floor(lo); e <= hi; e++) {
                for (int m : mantissas) {
                    double v = Math.log10(m) + e;
                    if (v >= lo - 1e-9 && v <= hi + 1e-9) ticks.add(v);
                }
            }
            if (ticks.size() >= 3) break;
        }
        return ticks;
    }

    /** Round step values (a 1, 2 or 5 times a power of ten apart) from x0 to x1, about five intervals. */
    static List<Long> linearTicks(long x0, long x1) {
        double raw = (x1 - x0) / 5.0;
        double p = Math.pow(10, Math.floor(Math.log10(raw)));
        long step = Math.max(1, Math.round(raw / p < 1.5 ? p : raw / p < 3.5 ? 2 * p : raw / p < 7.5 ? 5 * p : 10 * p));
        List<Long> ticks = new ArrayList<>();
        for (long t = Math.floorDiv(x0 + step - 1, step) * step; t <= x1; t += step) ticks.add(t);
        return ticks;
    }

    /** A tick label for the log10 value v: plain decimals from 0.001 to 9999, else like 2e-05. */
    static String formatTick(double logValue) {
        double v = Math.pow(10, logValue);
        if (v >= 0.000999 && v < 9999.5) {
            String str = String.format(Locale.ROOT, "%.4f", v);
            return str.replaceAll("0+$", "").replaceAll("\\.$", "");
        }
        return String.format(Locale.ROOT, "%.0e", v);
    }

    /** {@code s} cut to fit {@code width} pixels, with "..." where it was cut. */
    static String fit(String s, int width, int scale) {
        if (BitmapFont.width(s, scale) <= width) return s;
        int chars = Math.max(0, (width / scale + 1) / BitmapFont.ADVANCE - 3);
        return s.substring(0, Math.min(s.length(), chars)) + "...";
    }
}
