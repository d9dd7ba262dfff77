package org.ddpm4j.optim;

import java.util.Locale;
import org.ddpm4j.setting.Setting;

/**
 * How the learning rate moves over a run, as Hugging Face's training scripts schedule it
 * ({@code transformers.get_scheduler}: a {@code LambdaLR} whose factor multiplies the base rate,
 * evaluated at the number of optimizer steps taken before the update): a linear warm-up from 0
 * over {@code warmupSteps}, then constant, or a cosine or linear decay that reaches 0 at step
 * {@code decaySteps}. The update of global step 0 of a warm-up therefore has rate 0, as there.
 * Like a saved scheduler's state, {@code decaySteps} is fixed when a run starts (its last step,
 * unless given) and kept in its checkpoints, so that a resumed run continues the same schedule
 * however the first part ended.
 *
 * @param kind the shape after the warm-up
 * @param warmupSteps steps of the linear warm-up (0 = none)
 * @param decaySteps the global step where a decay reaches 0; 0 = the run's last step, set when it starts
 */
public record LrSchedule(Kind kind, long warmupSteps, long decaySteps) {
    /** The shape after the warm-up. */
    public enum Kind {
        CONSTANT, COSINE, LINEAR;

        public static Kind parse(String s) {
            return Setting.LR_SCHEDULE.parse(s, values());
        }

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** The notebook's: the same rate at every step. */
    public static final LrSchedule CONSTANT = new LrSchedule(Kind.CONSTANT, 0, 0);

    public LrSchedule {
        if (kind == null) throw new IllegalArgumentException("no learning-rate schedule");
        if (warmupSteps < 0) throw Setting.LR_WARMUP.invalid("must be >= 0, got " + warmupSteps);
        if (decaySteps < 0) throw Setting.LR_DECAY_STEPS.invalid("must be >= 0, got " + decaySteps);
        if (kind == Kind.CONSTANT && decaySteps > 0) {
            throw Setting.LR_DECAY_STEPS.invalid("is for ", Setting.LR_SCHEDULE, " cosine or linear (a constant rate does not decay)");
        }
        if (kind != Kind.CONSTANT && decaySteps > 0 && decaySteps <= warmupSteps) {
            throw Setting.LR_DECAY_STEPS.invalid("must be beyond the warm-up's " + warmupSteps + " steps, got " + decaySteps);
        }
    }

    /** The rate at every step is the base rate. */
    public boolean isConstant() {
        return kind == Kind.CONSTANT && warmupSteps == 0;
    }

    /** With the decay's end at {@code lastStep} (the run's last step) unless it was given. */
    public LrSchedule resolved(long lastStep) {
        return decaySteps > 0 || kind == Kind.CONSTANT ? this : new LrSchedule(kind, warmupSteps, Math.max(lastStep, warmupSteps + 1));
    }

    /**
     * The factor of the base rate at the update of global step {@code step} (0-based): step / warmup during the
     * warm-up; then 1, or 0.5 (1 + cos(pi p)) with p = (step - warmup) / (decay - warmup) (held at 0 past the end),
     * or (decay - step) / (decay - warmup), never below 0 (transformers' formulas, num_cycles 0.5).
     */
    public double factor(long step) {
        if (step < warmupSteps) return (double) step / Math.max(1, warmupSteps);
        if (kind == Kind.CONSTANT) return 1.0;
        if (decaySteps == 0) throw new IllegalStateException("the " + kind.label() + " schedule's end is not set (resolved)");
        double span = Math.max(1, decaySteps - warmupSteps);
        return switch (kind) {
            case CONSTANT -> 1.0;
            case COSINE -> Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * Math.min(1.0, (step - warmupSteps) / span))));
            case LINEAR -> Math.max(0.0, (decaySteps - step) / span);
        };
    }

    /** "constant", "cosine to 0 at step 1564 after 500 warm-up steps". */
    public String describe() {
        return kind.label() + (kind != Kind.CONSTANT && decaySteps > 0 ? " to 0 at step " + decaySteps : "")
                + (warmupSteps > 0 ? " after " + warmupSteps + " warm-up steps" : "");
    }
}
