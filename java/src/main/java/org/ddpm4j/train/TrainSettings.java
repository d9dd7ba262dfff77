package org.ddpm4j.train;

import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.optim.AdamConfig;
import org.ddpm4j.optim.LrSchedule;
import org.ddpm4j.setting.Setting;

/**
 * Training hyper-parameters and cadences (everything but the model shape and the data).
 *
 * @param preset the preset these came from ("seed", "tiny", or "custom")
 * @param batch images per step
 * @param adam Adam hyper-parameters
 * @param epochs epochs to train (a run stops at the end of the last one)
 * @param maxSteps stop when the global step reaches this (0 = no limit)
 * @param flip random horizontal flips
 * @param seed seeds the initialisation, the data order, the flips, t and the noise
 * @param timeTable time-embedding table a new model starts with
 * @param sampleEvery write a sample grid every this many epochs (0 = only when asked)
 * @param checkpointEvery write a checkpoint every this many epochs (always at the end)
 * @param checkpointMinutes also write one after this many minutes without (0 = off)
 * @param logEvery read losses from the backend at least every this many steps
 * @param emaDecay decay of the EMA of the weights (warmed up as min(decay, (1+u)/(10+u))), 0 = no EMA
 * @param condDrop probability that a label is dropped to the null class (class-conditional models)
 * @param lrSchedule how the learning rate moves over the run (warm-up, then constant or a decay to 0 at its last step)
 * @param maxGradNorm clip the gradients to this global norm before each Adam step (0 = off)
 */
public record TrainSettings(String preset, int batch, AdamConfig adam, int epochs, long maxSteps, boolean flip,
                            long seed, TimeTable timeTable, int sampleEvery, int checkpointEvery,
                            double checkpointMinutes, int logEvery, double emaDecay, double condDrop,
                            LrSchedule lrSchedule, double maxGradNorm) {

    /** The largest loss-read interval: the native loss ring's size (UNet::kLossRing; a test holds them equal). */
    public static final int MAX_LOG_EVERY = 4096;

    /** The usual label dropout of classifier-free guidance. */
    public static final double DEFAULT_COND_DROP = 0.1;

    /** Settings without an EMA, with the default label dropout, a constant learning rate and no gradient clipping. */
    public TrainSettings(String preset, int batch, AdamConfig adam, int epochs, long maxSteps, boolean flip, long seed,
                         TimeTable timeTable, int sampleEvery, int checkpointEvery, double checkpointMinutes,
                         int logEvery) {
        this(preset, batch, adam, epochs, maxSteps, flip, seed, timeTable, sampleEvery, checkpointEvery,
                checkpointMinutes, logEvery, 0.0, DEFAULT_COND_DROP, LrSchedule.CONSTANT, 0.0);
    }

    public TrainSettings {
        if (batch < 1) throw Setting.BATCH.invalid("must be >= 1, got " + batch);
        if (!(adam.lr() > 0) || !Double.isFinite(adam.lr())) throw Setting.LR.invalid("must be a positive number, got " + adam.lr());
        if (epochs < 1) throw Setting.EPOCHS.invalid("must be >= 1, got " + epochs);
        if (maxSteps < 0) throw Setting.STEPS.invalid("must be >= 0, got " + maxSteps);
        if (sampleEvery < 0) throw Setting.SAMPLE_EVERY.invalid("must be >= 0, got " + sampleEvery);
        if (checkpointEvery < 1) throw Setting.CHECKPOINT_EVERY.invalid("must be >= 1, got " + checkpointEvery);
        if (checkpointMinutes < 0 || !Double.isFinite(checkpointMinutes)) {
            throw Setting.CHECKPOINT_MINUTES.invalid("must be >= 0, got " + checkpointMinutes);
        }
        if (logEvery < 1 || logEvery > MAX_LOG_EVERY) {
            throw Setting.LOG_EVERY.invalid("must be in [1, " + MAX_LOG_EVERY + "], got " + logEvery);
        }
        if (!(emaDecay >= 0 && emaDecay < 1)) throw Setting.EMA_DECAY.invalid("must be in [0, 1), got " + emaDecay);
        if (!(condDrop >= 0 && condDrop <= 1)) throw Setting.COND_DROP.invalid("must be in [0, 1], got " + condDrop);
        if (lrSchedule == null) throw new IllegalArgumentException("no learning-rate schedule");
        if (!(maxGradNorm >= 0) || maxGradNorm > Float.MAX_VALUE) {
            throw Setting.MAX_GRAD_NORM.invalid("must be a number >= 0 (0 = off), got " + maxGradNorm);
        }
    }

    public TrainSettings withMaxGradNorm(double g) {
        return new TrainSettings(preset, batch, adam, epochs, maxSteps, flip, seed, timeTable, sampleEvery, checkpointEvery, checkpointMinutes, logEvery, emaDecay, condDrop, lrSchedule, g);
    }

    /** Adam's settings at the update of global step {@code step}: the scheduled rate. */
    public AdamConfig adamAt(long step) {
        return lrSchedule.isConstant() ? adam : adam.withRate(adam.lr() * lrSchedule.factor(step));
    }

    public TrainSettings withLrSchedule(LrSchedule l) {
        return new TrainSettings(preset, batch, adam, epochs, maxSteps, flip, seed, timeTable, sampleEvery, checkpointEvery, checkpointMinutes, logEvery, emaDecay, condDrop, l, maxGradNorm);
    }

    public TrainSettings withBatch(int b) {
        return new TrainSettings(preset, b, adam, epochs, maxSteps, flip, seed, timeTable, sampleEvery, checkpointEvery, checkpointMinutes, logEvery, emaDecay, condDrop, lrSchedule, maxGradNorm);
    }

    public TrainSettings withLr(double lr) {
        AdamConfig a = new AdamConfig(lr, adam.beta1(), adam.beta2(), adam.eps(), adam.weightDecay());
        return new TrainSettings(preset, batch, a, epochs, maxSteps, flip, seed, timeTable, sampleEvery, checkpointEvery, checkpointMinutes, logEvery, emaDecay, condDrop, lrSchedule, maxGradNorm);
    }

    public TrainSettings withEpochs(int e) {
        return new TrainSettings(preset, batch, adam, e, maxSteps, flip, seed, timeTable, sampleEvery, checkpointEvery, checkpointMinutes, logEvery, emaDecay, condDrop, lrSchedule, maxGradNorm);
    }

    public TrainSettings withMaxSteps(long s) {
        return new TrainSettings(preset, batch, adam, epochs, s, flip, seed, timeTable, sampleEvery, checkpointEvery, checkpointMinutes, logEvery, emaDecay, condDrop, lrSchedule, maxGradNorm);
    }

    public TrainSettings withFlip(boolean f) {
        return new TrainSettings(preset, batch, adam, epochs, maxSteps, f, seed, timeTable, sampleEvery, checkpointEvery, checkpointMinutes, logEvery, emaDecay, condDrop, lrSchedule, maxGradNorm);
    }

    public TrainSettings withSeed(long s) {
        return new TrainSettings(preset, batch, adam, epochs, maxSteps, flip, s, timeTable, sampleEvery, checkpointEvery, checkpointMinutes, logEvery, emaDecay, condDrop, lrSchedule, maxGradNorm);
    }

    public TrainSettings withTimeTable(TimeTable t) {
        return new TrainSettings(preset, batch, adam, epochs, maxSteps, flip, seed, t, sampleEvery, checkpointEvery, checkpointMinutes, logEvery, emaDecay, condDrop, lrSchedule, maxGradNorm);
    }

    public TrainSettings withSampleEvery(int e) {
        return new TrainSettings(preset, batch, adam, epochs, maxSteps, flip, seed, timeTable, e, checkpointEvery, checkpointMinutes, logEvery, emaDecay, condDrop, lrSchedule, maxGradNorm);
    }

    public TrainSettings withCheckpointEvery(int e, double minutes) {
        return new TrainSettings(preset, batch, adam, epochs, maxSteps, flip, seed, timeTable, sampleEvery, e, minutes, logEvery, emaDecay, condDrop, lrSchedule, maxGradNorm);
    }

    public TrainSettings withLogEvery(int s) {
        return new TrainSettings(preset, batch, adam, epochs, maxSteps, flip, seed, timeTable, sampleEvery, checkpointEvery, checkpointMinutes, s, emaDecay, condDrop, lrSchedule, maxGradNorm);
    }

    public TrainSettings withPreset(String p) {
        return new TrainSettings(p, batch, adam, epochs, maxSteps, flip, seed, timeTable, sampleEvery, checkpointEvery, checkpointMinutes, logEvery, emaDecay, condDrop, lrSchedule, maxGradNorm);
    }

    public TrainSettings withEmaDecay(double d) {
        return new TrainSettings(preset, batch, adam, epochs, maxSteps, flip, seed, timeTable, sampleEvery, checkpointEvery, checkpointMinutes, logEvery, d, condDrop, lrSchedule, maxGradNorm);
    }

    public TrainSettings withCondDrop(double p) {
        return new TrainSettings(preset, batch, adam, epochs, maxSteps, flip, seed, timeTable, sampleEvery, checkpointEvery, checkpointMinutes, logEvery, emaDecay, p, lrSchedule, maxGradNorm);
    }
}
