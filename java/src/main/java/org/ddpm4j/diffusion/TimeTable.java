package org.ddpm4j.diffusion;

import java.util.Locale;
import org.ddpm4j.setting.Setting;

/**
 * The frozen time-embedding table (timesteps x dim) that the time MLPs read.
 * STANDARD is the usual sinusoidal table (what the native init writes);
 * NOTEBOOK is the seed notebook's own function, which differs (see
 * {@link #notebook}); IMPORTED marks a table that came with imported weights.
 */
public enum TimeTable {
    STANDARD, NOTEBOOK, IMPORTED;

    /** STANDARD or NOTEBOOK (an IMPORTED table comes with weights, never from a choice). */
    public static TimeTable parse(String s) {
        return Setting.TIME_TABLE.parse(s, STANDARD, NOTEBOOK);
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
     * The seed notebook's table (its {@code sinusoidal_embedding(n, d)}), reproduced literally:
     * <pre>
     * embedding = torch.tensor([[i / 10000**(2*j/d) for j in range(d)] for i in range(n)])
     * sin_mask = torch.arange(0,n,2)
     * embedding[sin_mask] = torch.sin(embedding[sin_mask])
     * embedding[1-sin_mask] = torch.cos(embedding[1-sin_mask])
     * </pre>
     * The masks index rows, not columns, so row i, column j starts as the angle
     * i / 10000^(2j/d) (no pairing of columns as in the standard table). Even rows become
     * sines. {@code 1 - sin_mask} is 1, -1, -3, ... and negative indices count from the
     * end, so for an even n it names every odd row once (1, n-1, n-3, ..., 3), and both sides
     * of the last line read those rows before they change: odd rows hold the cosine of
     * their own angles and every value is in [-1, 1]. For an odd n the negative indices land
     * on even rows instead (n-1, n-3, ..., 2 get cos(sin(angle))) and odd rows 3, 5, ... keep
     * their raw angles; that is what the notebook computes, so it is reproduced too. n = 1 has
     * no row 1 and fails in PyTorch; here it is an error.
     * <p>
     * float32 as in torch: the angle is computed in double (Python floats) and rounded once
     * to float by {@code torch.tensor}; sin and cos then take that float. PyTorch's float32
     * sin/cos (SLEEF, vectorised) are within 1 ulp of the correctly rounded value, this
     * rounds the double result of Math.sin/cos, so the two agree to 1 ulp (bit for bit in
     * about 96% of the entries).
     */
    public static float[] notebook(int timesteps, int dim) {
        int n = timesteps;
        if (n < 2) {
            throw new IllegalArgumentException("the notebook's time table needs at least 2 timesteps (it writes row 1), got " + n);
        }
        float[] e = new float[n * dim];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < dim; j++) e[i * dim + j] = (float) (i / Math.pow(10_000, 2.0 * j / dim));
        }
        for (int row = 0; row < n; row += 2) {
            for (int j = 0; j < dim; j++) e[row * dim + j] = (float) Math.sin(e[row * dim + j]);
        }
        // The rows named by 1 - sin_mask are distinct, so updating each in place equals
        // evaluating the right-hand side first.
        for (int idx = 1; idx > 1 - n; idx -= 2) {
            int row = idx >= 0 ? idx : n + idx;
            for (int j = 0; j < dim; j++) e[row * dim + j] = (float) Math.cos(e[row * dim + j]);
        }
        return e;
    }
}
