package org.ddpm4j.train;

import java.util.Locale;

/** Losses as text that stays readable at any magnitude (0.07120, 1.234, 8.091e+04, 6.782e+37, NaN): four significant digits. */
public final class LossFormat {
    private LossFormat() {}

    public static String of(double loss) {
        if (Double.isNaN(loss)) return "NaN";
        if (Double.isInfinite(loss)) return loss > 0 ? "+Inf" : "-Inf";
        double a = Math.abs(loss);
        if (a == 0) return "0";
        if (a >= 1e-3 && a < 1e3) return String.format(Locale.ROOT, "%.4g", loss);
        return String.format(Locale.ROOT, "%.3e", loss);
    }
}
