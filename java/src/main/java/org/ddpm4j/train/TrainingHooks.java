package org.ddpm4j.train;

/** What a run does besides training: saving checkpoints, writing sample grids. */
public interface TrainingHooks {
    /** Save everything needed to resume at {@code state}. */
    default void checkpoint(TrainingState state) {}

    /**
     * True while the previous checkpoint is still being written. A checkpoint that falls due then is
     * taken at the first step after the writer is done, so training never waits for the disk (the last
     * one of a run, or of a stop request, is always taken and waited for).
     */
    default boolean checkpointPending() {
        return false;
    }

    /**
     * Epoch {@code epoch} (0-based) just ended; {@code state} is the first step of the next one.
     * Long work here (a sample grid) should give up soon after {@code stop} is requested.
     */
    default void epochEnded(int epoch, TrainingState state, StopSignal stop) {}
}
