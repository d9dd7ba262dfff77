package org.ddpm4j.checkpoint;

import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;

/**
 * The weights of a model, host-side: parameters, BatchNorm running statistics and
 * batch count, and the frozen time table (with what kind of table it is).
 */
public record ModelState(UNetConfig config, float[] params, float[] buffers, long bnBatches, float[] timeTable,
                         TimeTable timeTableKind) {

    public static ModelState capture(UNet net, TimeTable kind) {
        return new ModelState(net.config(), net.params(null), net.bufferValues(null), net.bnBatches(),
                net.timeTable(null), kind);
    }

    /** Loads these weights into {@code net}, which must have the same configuration. */
    public void applyTo(UNet net) {
        if (!net.config().equals(config)) {
            throw new CheckpointException("the weights are for " + Configs.describe(config) + ", the model is "
                    + Configs.describe(net.config()));
        }
        check("params", params.length, net.numParams());
        check("buffers", buffers.length, net.numBuffers());
        check("time table", timeTable.length, (long) config.timesteps() * config.timeDim());
        net.setParams(params);
        net.setBufferValues(buffers);
        net.setBnBatches(bnBatches);
        net.setTimeTable(timeTable);
    }

    private static void check(String what, long got, long want) {
        if (got != want) throw new CheckpointException("the " + what + " hold " + got + " floats, the model needs " + want);
    }
}
