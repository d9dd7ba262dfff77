package org.ddpm4j.train;

import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.optim.AdamConfig;

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
 */
public record TrainSettings(String preset, int batch, AdamConfig adam, int epochs, long maxSteps, boolean flip,
                            long seed, TimeTable timeTable, int sampleEvery, int checkpointEvery,
                            double checkpointMinutes, int logEvery) {

    public TrainSettings {
        if (batch < 1) throw new IllegalArgumentException("--batch must be >= 1, got " + batch);
        if (!(adam.lr() > 0) || !Double.isFinite(adam.lr())) throw new IllegalArgumentException("--lr must be a positive number, got " + adam.lr());
        if (epochs < 1) throw new IllegalArgumentException("--epochs must be >= 1, got " + epochs);
        if (maxSteps < 0) throw new IllegalArgumentException("--steps must be >= 0, got " + maxSteps);
        if (sampleEvery < 0) throw new IllegalArgumentException("--sample-every must be >= 0, got " + sampleEvery);
        if (checkpointEvery < 1) throw new IllegalArgumentException("--checkpoint-every must be >= 1, got " + checkpointEvery);
        if (checkpointMinutes < 0 || !Double.isFinite(checkpointMinutes)) {
            throw new IllegalArgumentException("--checkpoint-minutes must be >= 0, got " + checkpointMinutes);
        }
        if (logEvery < 1 || logEvery > 4096) throw new IllegalArgumentException("--log-every must be in [1, 4096], got " + logEvery);
    }

    public TrainSettings withBatch(int b) {
        return new TrainSettings(preset, b, adam, epochs, maxSteps, flip, seed, timeTable, sampleEvery, checkpointEvery, checkpointMinutes, logEvery);
    }

    public TrainSettings withLr(double lr) {
        AdamConfig a = new AdamConfig(lr, adam.beta1(), adam.beta2(), adam.eps(), adam.weightDecay());
        return new TrainSettings(preset, batch, a, epochs, maxSteps, flip, seed, timeTable, sampleEvery, checkpointEvery, checkpointMinutes, logEvery);
    }

    public TrainSettings withEpochs(int e) {
        return new TrainSettings(preset, batch, adam, e, maxSteps, flip, seed, timeTable, sampleEvery, checkpointEvery, checkpointMinutes, logEvery);
    }

    public TrainSettings withMaxSteps(long s) {
        return new TrainSettings(preset, batch, adam, epochs, s, flip, seed, timeTable, sampleEvery, checkpointEvery, checkpointMinutes, logEvery);
    }

    public TrainSettings withFlip(boolean f) {
        return new TrainSettings(preset, batch, adam, epochs, maxSteps, f, seed, timeTable, sampleEvery, checkpointEvery, checkpointMinutes, logEvery);
    }

    public TrainSettings withSeed(long s) {
        return new TrainSettings(preset, batch, adam, epochs, maxSteps, flip, s, timeTable, sampleEvery, checkpointEvery, checkpointMinutes, logEvery);
    }

    public TrainSettings withTimeTable(TimeTable t) {
        return new TrainSettings(preset, batch, adam, epochs, maxSteps, flip, seed, t, sampleEvery, checkpointEvery, checkpointMinutes, logEvery);
    }

    public TrainSettings withSampleEvery(int e) {
        return new TrainSettings(preset, batch, adam, epochs, maxSteps, flip, seed, timeTable, e, checkpointEvery, checkpointMinutes, logEvery);
    }

    public TrainSettings withCheckpointEvery(int e, double minutes) {
        return new TrainSettings(preset, batch, adam, epochs, maxSteps, flip, seed, timeTable, sampleEvery, e, minutes, logEvery);
    }

    public TrainSettings withLogEvery(int s) {
        return new TrainSettings(preset, batch, adam, epochs, maxSteps, flip, seed, timeTable, sampleEvery, checkpointEvery, checkpointMinutes, s);
    }

    public TrainSettings withPreset(String p) {
        return new TrainSettings(p, batch, adam, epochs, maxSteps, flip, seed, timeTable, sampleEvery, checkpointEvery, checkpointMinutes, logEvery);
    }
}
