package org.ddpm4j.train;

import java.util.Locale;
import java.util.function.Consumer;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.setting.SettingText;

/**
 * Watches the losses as they are read (no extra device synchronisation): a NaN or
 * infinite loss ends training with {@link TrainingDivergedException}; a loss far above
 * what an untrained model scores gets one warning. The noise the model predicts has unit
 * variance, so predicting zeros scores a loss of 1; {@link #WARN_ABOVE} times that means
 * the optimiser is throwing the weights around.
 */
final class DivergenceGuard implements LossSink {
    static final double WARN_ABOVE = 10.0;

    private final String lr;
    private final Consumer<String> warn;
    private boolean warned;
    private long lastFiniteStep = -1;
    private float lastFinite = Float.NaN;

    DivergenceGuard(String lr, Consumer<String> warn) {
        this.lr = lr;
        this.warn = warn;
    }

    @Override
    public void accept(long firstStep, float[] losses) {
        for (int i = 0; i < losses.length; i++) {
            float l = losses[i];
            long step = firstStep + i;
            if (!Float.isFinite(l)) {
                String before = lastFiniteStep >= 0
                        ? String.format(Locale.ROOT, " (step %d: %s)", lastFiniteStep, LossFormat.of(lastFinite)) : "";
                throw new TrainingDivergedException(step, SettingText.of(String.format(Locale.ROOT,
                        "training diverged: the loss of step %d is %s%s; try a smaller ", step, LossFormat.of(l), before),
                        Setting.LR, " than " + lr));
            }
            if (!warned && l > WARN_ABOVE) {
                warned = true;
                warn.accept(String.format(Locale.ROOT, "warning: the loss of step %d is %s, more than %.0fx what an untrained "
                        + "model scores (1.0); the learning rate (%s) may be too high", step, LossFormat.of(l), WARN_ABOVE, lr));
            }
            lastFiniteStep = step;
            lastFinite = l;
        }
    }
}
