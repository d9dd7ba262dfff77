package org.ddpm4j.train;

/** What a run does besides training: saving checkpoints, writing sample grids. */
public interface TrainingHooks {
    /** Save everything needed to resume at {@code state}. */
    default void checkpoint(TrainingState state) {}

    /**
     * Epoch {@code epoch} (0-based) just ended; {@code state} is the first step of the next one.
     * Long work here (a sample grid) should give up soon after {@code stop} is requested.
     */
    default void epochEnded(int epoch, TrainingState state, StopSignal stop) {}
}
