package org.ddpm4j.diffusion;

import java.util.Locale;

/**
 * The frozen time-embedding table (timesteps x dim) that the time MLPs read.
 * STANDARD is the usual sinusoidal table (what the native init writes);
 * NOTEBOOK is the seed notebook's own function, which differs (see
 * {@link #notebook}); IMPORTED marks a table that came with imported weights.
 */
public enum TimeTable {
    STANDARD, NOTEBOOK, IMPORTED;

    public static TimeTable parse(String s) {
        try {
            TimeTable t = valueOf(s.trim().toUpperCase(Locale.ROOT));
            if (t == IMPORTED) throw new IllegalArgumentException();
            return t;
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--time-table must be standard or notebook, got '" + s + "'");
        }
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The table of this kind; IMPORTED has no formula. */
    public float[] build(int timesteps, int dim) {
        return switch (this) {
            case STANDARD -> standard(timesteps, dim);
            case NOTEBOOK -> notebook(timesteps, dim);
            case IMPORTED -> throw new IllegalStateException("an imported table comes from its file");
        };
    }

    /** Row t, column j: sin(t / 10000^(2*(j/2)/dim)) for even j, cos(...) for odd j (as the native init). */
    public static float[] standard(int timesteps, int dim) {
        float[] out = new float[timesteps * dim];
        for (int t = 0; t < timesteps; t++) {
            for (int j = 0; j < dim; j++) {
                double a = t * Math.pow(10000.0, -2.0 * (j / 2) / dim);
                out[t * dim + j] = (float) (j % 2 == 0 ? Math.sin(a) : Math.cos(a));
            }
        }
        return out;
    }

    /**
     * The seed notebook's table, reproduced literally:
     * <pre>
     * embedding = torch.tensor([[i / 10_000 ** (2 * j / d) for j in range(d)] for i in range(n)])
     * sin_mask = torch.arange(0, n, 2)
     * embedding[sin_mask] = torch.sin(embedding[sin_mask])
     * embedding[1 - sin_mask] = torch.cos(embedding[sin_mask])
     * </pre>
     * The masks index rows, not columns, and {@code 1 - sin_mask} counts down with
     * Python's negative indexing: even rows hold sin(i / 10000^(2j/d)); row 1 holds
     * cos(sin(row 0)) = 1 and odd row n+1-2k (k >= 1) holds cos of the sine row 2k.
     * Values are rounded to float before each float32 sin/cos, as torch does.
     */
    public static float[] notebook(int timesteps, int dim) {
        int n = timesteps;
        float[] e = new float[n * dim];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < dim; j++) e[i * dim + j] = (float) (i / Math.pow(10_000, 2.0 * j / dim));
        }
        int half = (n + 1) / 2;  // len(arange(0, n, 2))
        for (int k = 0; k < half; k++) {
            int row = 2 * k;
            for (int j = 0; j < dim; j++) e[row * dim + j] = (float) Math.sin(e[row * dim + j]);
        }
        float[] cosRows = new float[half * dim];  // right-hand side, evaluated before the assignment
        for (int k = 0; k < half; k++) {
            for (int j = 0; j < dim; j++) cosRows[k * dim + j] = (float) Math.cos(e[2 * k * dim + j]);
        }
        for (int k = 0; k < half; k++) {
            int idx = 1 - 2 * k;
            if (idx < -n) throw new IllegalArgumentException("the notebook table is undefined for " + n + " timesteps");
            int row = idx >= 0 ? idx : n + idx;
            System.arraycopy(cosRows, k * dim, e, row * dim, dim);
        }
        return e;
    }
}
