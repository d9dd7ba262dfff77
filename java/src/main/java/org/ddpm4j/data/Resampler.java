package org.ddpm4j.data;

/**
 * Picture scaling as Pillow's {@code Image.resize(size, Image.BILINEAR, box)} does it, bit for bit: a
 * separable triangle filter whose support grows with the reduction (so a large picture is averaged down,
 * not sampled: no aliasing), the horizontal pass then the vertical one, each in Pillow's 22-bit fixed
 * point and rounded to 8 bits. torchvision's {@code Resize} (which diffusers' training scripts use) runs
 * the same filter on pictures. {@code ImageFolderPixelTest} checks the bits against Pillow's own output.
 */
final class Resampler {
    private Resampler() {}

    private static final int PRECISION_BITS = 32 - 8 - 2;

    /** One pass's filter: for output pixel i, weights of input pixels [start[i], start[i] + count[i]). */
    private record Coefficients(int[] start, int[] count, int[][] weights) {}

    /**
     * Pixels (0xRRGGBB) of the box [x0, x1) x [y0, y1) of a w x h picture (the box in pixel units, fractions
     * allowed), scaled to toW x toH.
     */
    static int[] resize(int[] rgb, int w, int h, double x0, double y0, double x1, double y1, int toW, int toH) {
        if (toW <= 0 || toH <= 0) throw new IllegalArgumentException("target size must be positive: " + toW + "x" + toH);
        boolean horizontal = toW != w || x0 != 0 || x1 != w;
        boolean vertical = toH != h || y0 != 0 || y1 != h;
        Coefficients cv = coefficients(h, y0, y1, toH);
        int rowFirst = 0, rows = h;
        int[][] planes = split(rgb);
        if (horizontal) {
            // Only the rows the vertical pass reads.
            if (vertical) {
                rowFirst = cv.start[0];
                int rowLast = cv.start[toH - 1] + cv.count[toH - 1];
                rows = rowLast - rowFirst;
            }
            Coefficients ch = coefficients(w, x0, x1, toW);
            for (int p = 0; p < 3; p++) planes[p] = horizontalPass(planes[p], w, rowFirst, rows, ch, toW);
            w = toW;
        }
        if (vertical) {
            for (int p = 0; p < 3; p++) planes[p] = verticalPass(planes[p], w, rowFirst, cv, toH);
        }
        return join(planes);
    }

    /** Pillow's precompute_coeffs for the bilinear filter, normalised into its 8-bit fixed point. */
    private static Coefficients coefficients(int inSize, double in0, double in1, int outSize) {
        double scale = (in1 - in0) / outSize;
        double filterScale = Math.max(scale, 1.0);
        double support = 1.0 * filterScale;
        int[] start = new int[outSize], count = new int[outSize];
        int[][] weights = new int[outSize][];
        for (int xx = 0; xx < outSize; xx++) {
            double center = in0 + (xx + 0.5) * scale;
            double ss = 1.0 / filterScale;
            int xmin = (int) (center - support + 0.5);  // C's truncation toward zero, then clipped
            if (xmin < 0) xmin = 0;
            int xmax = (int) (center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            double[] k = new double[Math.max(xmax, 0)];
            double total = 0.0;
            for (int x = 0; x < k.length; x++) {
                double t = Math.abs((x + xmin - center + 0.5) * ss);
                double v = t < 1.0 ? 1.0 - t : 0.0;
                k[x] = v;
                total += v;
            }
            int[] fixed = new int[k.length];
            for (int x = 0; x < k.length; x++) {
                double v = total != 0.0 ? k[x] / total : k[x];
                double scaled = v * (1 << PRECISION_BITS);
                fixed[x] = (int) (scaled < 0 ? scaled - 0.5 : scaled + 0.5);  // trunc(±0.5 + v * 2^22)
            }
            start[xx] = xmin;
            count[xx] = k.length;
            weights[xx] = fixed;
        }
        return new Coefficients(start, count, weights);
    }

    private static int clip8(int v) {
        int s = v >> PRECISION_BITS;
        return s < 0 ? 0 : Math.min(s, 255);
    }

    private static int[] horizontalPass(int[] in, int w, int rowFirst, int rows, Coefficients c, int toW) {
        int[] out = new int[rows * toW];
        for (int y = 0; y < rows; y++) {
            int base = (rowFirst + y) * w;
            for (int xx = 0; xx < toW; xx++) {
                int ss = 1 << (PRECISION_BITS - 1);
                int[] k = c.weights[xx];
                for (int x = 0; x < k.length; x++) ss += in[base + c.start[xx] + x] * k[x];
                out[y * toW + xx] = clip8(ss);
            }
        }
        return out;
    }

    /** in holds rows [rowFirst, ...) of width w. */
    private static int[] verticalPass(int[] in, int w, int rowFirst, Coefficients c, int toH) {
        int[] out = new int[toH * w];
        for (int yy = 0; yy < toH; yy++) {
            int[] k = c.weights[yy];
            int first = c.start[yy] - rowFirst;
            for (int x = 0; x < w; x++) {
                int ss = 1 << (PRECISION_BITS - 1);
                for (int y = 0; y < k.length; y++) ss += in[(first + y) * w + x] * k[y];
                out[yy * w + x] = clip8(ss);
            }
        }
        return out;
    }

    private static int[][] split(int[] rgb) {
        int[][] p = new int[3][rgb.length];
        for (int i = 0; i < rgb.length; i++) {
            p[0][i] = (rgb[i] >> 16) & 0xff;
            p[1][i] = (rgb[i] >> 8) & 0xff;
            p[2][i] = rgb[i] & 0xff;
        }
        return p;
    }

    private static int[] join(int[][] p) {
        int[] rgb = new int[p[0].length];
        for (int i = 0; i < rgb.length; i++) rgb[i] = (p[0][i] << 16) | (p[1][i] << 8) | p[2][i];
        return rgb;
    }
}
