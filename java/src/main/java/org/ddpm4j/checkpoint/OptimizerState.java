package org.ddpm4j.checkpoint;

import org.ddpm4j.model.UNet;

/** Adam's moments (first then second, 2 * numParams floats) and its step counter. */
public record OptimizerState(float[] moments, long adamStep) {

    public static OptimizerState capture(UNet net) {
        return new OptimizerState(net.adamState(null), net.adamStep());
    }

    public void applyTo(UNet net) {
        if (moments.length != 2 * net.numParams()) {
            throw new CheckpointException("the Adam state holds " + moments.length + " floats, the model needs " + 2 * net.numParams());
        }
        net.setAdamState(moments);
        net.setAdamStep(adamStep);
    }
}
