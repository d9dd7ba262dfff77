package org.ddpm4j.bench;

import java.util.Locale;
import org.ddpm4j.model.UNetConfig;

/** Parsing of the string parameters shared by the benchmarks and the summary. */
final class Shapes {
    private Shapes() {}

    /** A conv block "CINxCOUT@HW" or "CINxCOUT@HxW", e.g. 64x64@32. */
    record Block(int cin, int cout, int h, int w) {
        static Block parse(String s) {
            try {
                String[] at = s.trim().toLowerCase(Locale.ROOT).split("@");
                String[] c = at[0].split("x");
                String[] hw = at[1].split("x");
                int h = Integer.parseInt(hw[0]);
                int w = hw.length > 1 ? Integer.parseInt(hw[1]) : h;
                return new Block(Integer.parseInt(c[0]), Integer.parseInt(c[1]), h, w);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("block shape must look like 64x64@32 or 64x64@32x32, got '" + s + "'");
            }
        }
    }

    /** An image "CxHxW", e.g. 3x32x32. */
    record Image(int c, int h, int w) {
        static Image parse(String s) {
            try {
                String[] p = s.trim().toLowerCase(Locale.ROOT).split("x");
                return new Image(Integer.parseInt(p[0]), Integer.parseInt(p[1]), Integer.parseInt(p[2]));
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("image must look like 3x32x32, got '" + s + "'");
            }
        }
    }

    /**
     * A model, named as `ddpm --preset`: "seed" (the notebook's 3x32x32, base 64, depth 4,
     * 33.08M parameters), "tiny" (base 16, depth 2, 0.14M parameters), or "b&lt;base&gt;d&lt;depth&gt;[i&lt;image&gt;]", e.g. b128d4 or b64d3i64.
     */
    static UNetConfig model(String s) {
        String m = s.trim().toLowerCase(Locale.ROOT);
        UNetConfig seed = UNetConfig.seed();
        switch (m) {
            case "seed":
                return seed;
            case "tiny":
                return seed.withBaseWidth(16).withDepth(2);
            default:
                java.util.regex.Matcher x = java.util.regex.Pattern.compile("b(\\d+)d(\\d+)(?:i(\\d+))?").matcher(m);
                if (!x.matches()) throw new IllegalArgumentException("model must be seed, tiny or b<base>d<depth>[i<image>], got '" + s + "'");
                UNetConfig c = seed.withBaseWidth(Integer.parseInt(x.group(1))).withDepth(Integer.parseInt(x.group(2)));
                if (x.group(3) != null) {
                    int i = Integer.parseInt(x.group(3));
                    c = c.withImage(seed.inChannels(), i, i);
                }
                return c;
        }
    }

    /** A parameter count: a number (33178526, 33M, 1.5e6) or a model name (its trainable parameters). */
    static long paramCount(String s) {
        String m = s.trim().toUpperCase(Locale.ROOT);
        try {
            if (m.endsWith("M")) return Math.round(Double.parseDouble(m.substring(0, m.length() - 1)) * 1e6);
            if (m.endsWith("K")) return Math.round(Double.parseDouble(m.substring(0, m.length() - 1)) * 1e3);
            return Math.round(Double.parseDouble(m));
        } catch (NumberFormatException e) {
            return ModelStats.params(model(s));
        }
    }
}
