package org.ddpm4j.sample;

import java.util.Locale;
import org.ddpm4j.setting.Setting;

/**
 * Which timesteps a DDIM or DPM-Solver++ run of S steps visits, as Hugging Face diffusers' schedulers'
 * {@code timestep_spacing} (Lin et al. 2023, table 2, for the names): LINSPACE, S values evenly spaced over
 * [0, T-1] including both ends (DPM-Solver++: S + 1 of them, the 0 left out); LEADING, multiples of a whole
 * step ratio from 0 up (DDIM: T / S; DPM-Solver++: T / (S + 1), the 0 left out); TRAILING, back from T - 1 in
 * steps of T / S, rounded. Without one, DDIM visits the DDIM paper's code's floor(i T / S) and DPM-Solver++
 * LINSPACE, diffusers' default for it.
 */
public enum TimestepSpacing {
    LINSPACE, LEADING, TRAILING;

    public static TimestepSpacing parse(String s) {
        return Setting.TIMESTEP_SPACING.parse(s, values());
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** DDIM's timesteps, descending, as diffusers' DDIMScheduler.set_timesteps (steps_offset 0). */
    public int[] ddim(int T, int S) {
        int[] ts = new int[S];
        switch (this) {
            case LINSPACE -> {  // np.linspace(0, T - 1, S).round()[::-1]
                for (int i = 0; i < S; i++) ts[S - 1 - i] = (int) Math.rint(linspace(0, T - 1, S, i));
            }
            case LEADING -> {  // (np.arange(0, S) * (T // S)).round()[::-1]
                for (int i = 0; i < S; i++) ts[S - 1 - i] = i * (T / S);
            }
            case TRAILING -> ts = trailing(T, S);
        }
        return checked(ts, T, "DDIM");
    }

    /** DPM-Solver++'s timesteps before its last step to x_0, descending, as diffusers' DPMSolverMultistepScheduler. */
    public int[] dpmSolver(int T, int S) {
        int[] ts = new int[S];
        switch (this) {
            case LINSPACE -> ts = Sampler.dpmSolverTimesteps(T, S);
            case LEADING -> {  // (np.arange(0, S + 1) * (T // (S + 1))).round()[::-1][:-1]
                for (int i = 1; i <= S; i++) ts[S - i] = i * (T / (S + 1));
            }
            case TRAILING -> ts = trailing(T, S);
        }
        return checked(ts, T, "DPM-Solver++");
    }

    /** Value i of numpy's linspace(start, stop, num): start + i * step, the last exactly stop. */
    private static double linspace(double start, double stop, int num, int i) {
        if (num == 1) return start;
        if (i == num - 1) return stop;
        return start + i * ((stop - start) / (num - 1));
    }

    /** np.arange(T, 0, -T / S).round() - 1, numpy's length included: ceil((0 - T) / (-T / S)) values. */
    private static int[] trailing(int T, int S) {
        double step = -((double) T / S);
        int n = (int) Math.ceil((0 - T) / step);
        int[] ts = new int[n];
        for (int k = 0; k < n; k++) ts[k] = (int) Math.rint(T + k * step) - 1;
        return ts;
    }

    private int[] checked(int[] ts, int T, String sampler) {
        for (int i = 0; i < ts.length; i++) {
            if (ts[i] < 0 || ts[i] >= T || (i > 0 && ts[i] >= ts[i - 1])) {
                throw Setting.TIMESTEP_SPACING.invalid(label() + " gives " + sampler + " timesteps that are not distinct and in [0, "
                        + (T - 1) + "] (" + java.util.Arrays.toString(ts) + "); take fewer ", Setting.SAMPLING_STEPS);
            }
        }
        return ts;
    }
}
