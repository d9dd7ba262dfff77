package org.ddpm4j.train;

/** Receives the losses of steps [firstStep, firstStep + losses.length), in order, each step once. */
@FunctionalInterface
public interface LossSink {
    void accept(long firstStep, float[] losses);
}
