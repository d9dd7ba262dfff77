package org.ddpm4j.train;

/** Receives the losses of steps [firstStep, firstStep + losses.length), in order, each step once. */
@FunctionalInterface
public interface LossSink {
    void accept(long firstStep, float[] losses);

    /** The same with the steps' gradient norms before clipping (null when the run does not clip). */
    default void accept(long firstStep, float[] losses, float[] gradNorms) {
        accept(firstStep, losses);
    }
}
