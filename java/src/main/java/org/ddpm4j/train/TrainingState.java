package org.ddpm4j.train;

/**
 * Where a run stands. {@code globalStep} steps have been trained; the next batch
 * is batch {@code position} of epoch {@code epoch} (0-based, position always
 * below the batches per epoch). The native step also draws t and the noise from
 * (seed, globalStep), so this plus the seed is the whole RNG state.
 */
public record TrainingState(long globalStep, int epoch, int position) {
    public static final TrainingState START = new TrainingState(0, 0, 0);

    /** The state after one more step, with epochs of {@code perEpoch} batches. */
    public TrainingState advance(int perEpoch) {
        int p = position + 1;
        return p >= perEpoch ? new TrainingState(globalStep + 1, epoch + 1, 0)
                : new TrainingState(globalStep + 1, epoch, p);
    }
}
