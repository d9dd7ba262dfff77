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
        return capture(net, kind, null);
    }

    /** As {@link #capture(UNet, TimeTable)}, into the arrays of {@code reuse} (null: new ones; a model's are ~130 MB). */
    public static ModelState capture(UNet net, TimeTable kind, ModelState reuse) {
        boolean same = reuse != null && reuse.config.equals(net.config());
        return new ModelState(net.config(), net.params(same ? reuse.params : null),
                net.bufferValues(same ? reuse.buffers : null), net.bnBatches(), net.timeTable(same ? reuse.timeTable : null), kind);
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

    /**
     * Throws when a weight or BatchNorm statistic is NaN or infinite (a diverged run): such a model
     * draws nothing but flat colour, so it is refused rather than sampled.
     *
     * @param source the file the weights came from, for the message
     */
    public void requireFinite(String source) {
        String bad = firstNonFinite(params, "parameter");
        if (bad == null) bad = firstNonFinite(buffers, "BatchNorm statistic");
        if (bad != null) {
            throw new CheckpointException(source + " holds non-finite weights (" + bad + "): the run that wrote it diverged;"
                    + " use an earlier checkpoint");
        }
    }

    private static String firstNonFinite(float[] v, String what) {
        int count = 0, first = -1;
        for (int i = 0; i < v.length; i++) {
            if (!Float.isFinite(v[i])) {
                if (first < 0) first = i;
                count++;
            }
        }
        return first < 0 ? null : String.format(java.util.Locale.ROOT, "%,d of %,d %s values, the first at index %d is %s",
                count, v.length, what, first, v[first]);
    }

    private static void check(String what, long got, long want) {
        if (got != want) throw new CheckpointException("the " + what + " hold " + got + " floats, the model needs " + want);
    }
}
