package org.ddpm4j.train;

import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.optim.AdamConfig;
import org.ddpm4j.optim.LrSchedule;
import org.ddpm4j.optim.Optimizer;
import org.ddpm4j.sample.SamplerKind;
import org.ddpm4j.setting.Setting;

/**
 * Training hyper-parameters and cadences (everything but the model shape and the data).
 *
 * @param preset the preset these came from ("seed", "tiny", or "custom")
 * @param batch images per step
 * @param adam Adam's (or AdamW's) hyper-parameters
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
 * @param snrGamma weight each sample's loss gradient by Min-SNR-gamma, min(snr_t, gamma) / snr_t (0 = off)
 * @param emaPower the EMA's warm-up: 0, min(decay, (1+u)/(10+u)); &gt; 0, diffusers' use_ema_warmup
 *     min(decay, 1 - (1+u)^-power)
 * @param gridSampler how the in-training sample grids are drawn (DDPM: the notebook's 1,000 steps)
 * @param gridSteps their steps (0: the sampler's default)
 * @param gridKarras their DPM-Solver++ steps between Karras sigmas
 */
public record TrainSettings(String preset, int batch, AdamConfig adam, int epochs, long maxSteps, boolean flip,
                            long seed, TimeTable timeTable, int sampleEvery, int checkpointEvery,
                            double checkpointMinutes, int logEvery, double emaDecay, double condDrop,
                            LrSchedule lrSchedule, double maxGradNorm, double snrGamma, double emaPower,
                            SamplerKind gridSampler, int gridSteps, boolean gridKarras) {

    /** The largest loss-read interval: the native loss ring's size (UNet::kLossRing; a test holds them equal). */
    public static final int MAX_LOG_EVERY = 4096;

    /** The usual label dropout of classifier-free guidance. */
    public static final double DEFAULT_COND_DROP = 0.1;

    /** Settings without an EMA, with the default label dropout, a constant learning rate, no clipping or loss weighting. */
    public TrainSettings(String preset, int batch, AdamConfig adam, int epochs, long maxSteps, boolean flip, long seed,
                         TimeTable timeTable, int sampleEvery, int checkpointEvery, double checkpointMinutes,
                         int logEvery) {
        this(preset, batch, adam, epochs, maxSteps, flip, seed, timeTable, sampleEvery, checkpointEvery,
                checkpointMinutes, logEvery, 0.0, DEFAULT_COND_DROP, LrSchedule.CONSTANT, 0.0, 0.0, 0.0, SamplerKind.DDPM, 0,
                false);
    }

    public TrainSettings {
        if (batch < 1) throw Setting.BATCH.invalid("must be >= 1, got " + batch);
        if (!(adam.lr() > 0) || !Double.isFinite(adam.lr())) throw Setting.LR.invalid("must be a positive number, got " + adam.lr());
        if (!(adam.beta1() >= 0 && adam.beta1() < 1)) throw Setting.ADAM_BETA1.invalid("must be in [0, 1), got " + adam.beta1());
        if (!(adam.beta2() >= 0 && adam.beta2() < 1)) throw Setting.ADAM_BETA2.invalid("must be in [0, 1), got " + adam.beta2());
        if (!(adam.eps() > 0) || !Double.isFinite(adam.eps())) throw Setting.ADAM_EPS.invalid("must be a positive number, got " + adam.eps());
        if (!(adam.weightDecay() >= 0) || !Double.isFinite(adam.weightDecay())) {
            throw Setting.WEIGHT_DECAY.invalid("must be a number >= 0, got " + adam.weightDecay());
        }
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
        if (!(snrGamma >= 0) || Double.isInfinite(snrGamma)) {
            throw Setting.SNR_GAMMA.invalid("must be a number >= 0 (0 = off), got " + snrGamma);
        }
        if (!(emaPower >= 0) || Double.isInfinite(emaPower)) {
            throw Setting.EMA_POWER.invalid("must be a number >= 0 (0 = the (1+step)/(10+step) warm-up), got " + emaPower);
        }
        if (gridSampler == null) throw new IllegalArgumentException("no grid sampler");
        if (gridSteps < 0) throw Setting.GRID_STEPS.invalid("must be >= 1 (or 0: the sampler's default), got " + gridSteps);
        if (gridKarras && !gridSampler.isDpmSolver()) {
            throw Setting.GRID_KARRAS.invalid("is for ", Setting.GRID_SAMPLER, " dpm++, dpm++sde or dpm++3m, not " + gridSampler.label());
        }
    }

    /** The in-training grids drawn with {@code kind} in {@code steps} steps (0: its default), over Karras sigmas or not. */
    public TrainSettings withGridSampler(SamplerKind kind, int steps, boolean karras) {
        return with(v -> {
            v.gridSampler = kind;
            v.gridSteps = steps;
            v.gridKarras = karras;
        });
    }

    public TrainSettings withEmaPower(double p) {
        return with(v -> v.emaPower = p);
    }

    public TrainSettings withSnrGamma(double g) {
        return with(v -> v.snrGamma = g);
    }

    public TrainSettings withMaxGradNorm(double g) {
        return with(v -> v.maxGradNorm = g);
    }

    /** Adam's settings at the update of global step {@code step}: the scheduled rate. */
    public AdamConfig adamAt(long step) {
        return lrSchedule.isConstant() ? adam : adam.withRate(adam.lr() * lrSchedule.factor(step));
    }

    public TrainSettings withLrSchedule(LrSchedule l) {
        return with(v -> v.lrSchedule = l);
    }

    public TrainSettings withBatch(int b) {
        return with(v -> v.batch = b);
    }

    public TrainSettings withLr(double lr) {
        return with(v -> v.adam = adam.withRate(lr));
    }

    /** The optimizer and its values but the learning rate. */
    public TrainSettings withOptimizer(Optimizer kind, double beta1, double beta2, double eps, double weightDecay) {
        return with(v -> v.adam = adam.with(kind, beta1, beta2, eps, weightDecay));
    }

    public TrainSettings withEpochs(int e) {
        return with(v -> v.epochs = e);
    }

    public TrainSettings withMaxSteps(long s) {
        return with(v -> v.maxSteps = s);
    }

    public TrainSettings withFlip(boolean f) {
        return with(v -> v.flip = f);
    }

    public TrainSettings withSeed(long s) {
        return with(v -> v.seed = s);
    }

    public TrainSettings withTimeTable(TimeTable t) {
        return with(v -> v.timeTable = t);
    }

    public TrainSettings withSampleEvery(int e) {
        return with(v -> v.sampleEvery = e);
    }

    public TrainSettings withCheckpointEvery(int e, double minutes) {
        return with(v -> {
            v.checkpointEvery = e;
            v.checkpointMinutes = minutes;
        });
    }

    public TrainSettings withLogEvery(int s) {
        return with(v -> v.logEvery = s);
    }

    public TrainSettings withPreset(String p) {
        return with(v -> v.preset = p);
    }

    public TrainSettings withEmaDecay(double d) {
        return with(v -> v.emaDecay = d);
    }

    public TrainSettings withCondDrop(double p) {
        return with(v -> v.condDrop = p);
    }

    /** A copy with some values changed (the canonical constructor checks the result). */
    private TrainSettings with(java.util.function.Consumer<Values> change) {
        Values b = new Values(this);
        change.accept(b);
        return new TrainSettings(b.preset, b.batch, b.adam, b.epochs, b.maxSteps, b.flip, b.seed, b.timeTable, b.sampleEvery,
                b.checkpointEvery, b.checkpointMinutes, b.logEvery, b.emaDecay, b.condDrop, b.lrSchedule, b.maxGradNorm,
                b.snrGamma, b.emaPower, b.gridSampler, b.gridSteps, b.gridKarras);
    }

    /** The components, mutable, for {@link #with}. */
    private static final class Values {
        String preset;
        int batch;
        AdamConfig adam;
        int epochs;
        long maxSteps;
        boolean flip;
        long seed;
        TimeTable timeTable;
        int sampleEvery;
        int checkpointEvery;
        double checkpointMinutes;
        int logEvery;
        double emaDecay;
        double condDrop;
        LrSchedule lrSchedule;
        double maxGradNorm;
        double snrGamma;
        double emaPower;
        SamplerKind gridSampler;
        int gridSteps;
        boolean gridKarras;

        Values(TrainSettings s) {
            preset = s.preset;
            batch = s.batch;
            adam = s.adam;
            epochs = s.epochs;
            maxSteps = s.maxSteps;
            flip = s.flip;
            seed = s.seed;
            timeTable = s.timeTable;
            sampleEvery = s.sampleEvery;
            checkpointEvery = s.checkpointEvery;
            checkpointMinutes = s.checkpointMinutes;
            logEvery = s.logEvery;
            emaDecay = s.emaDecay;
            condDrop = s.condDrop;
            lrSchedule = s.lrSchedule;
            maxGradNorm = s.maxGradNorm;
            snrGamma = s.snrGamma;
            emaPower = s.emaPower;
            gridSampler = s.gridSampler;
            gridSteps = s.gridSteps;
            gridKarras = s.gridKarras;
        }
    }
}
