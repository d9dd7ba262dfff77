package org.ddpm4j.checkpoint;

import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.setting.SettingText;

/**
 * The weights of a model, host-side: parameters, BatchNorm running statistics and
 * batch count, the frozen time table (with what kind of table it is), and the
 * exponential moving averages of the parameters and of the BatchNorm statistics when
 * the model keeps them (else both null): the averaged weights are used with the
 * statistics averaged over the same steps, which match them better than the live
 * model's latest ones.
 */
public record ModelState(UNetConfig config, float[] params, float[] buffers, long bnBatches, float[] timeTable,
                         TimeTable timeTableKind, float[] emaParams, float[] emaBuffers) {

    public ModelState {
        if ((emaParams == null) != (emaBuffers == null)) {
            throw new IllegalArgumentException("ModelState: the EMA needs both its parameters and its statistics");
        }
    }

    /** Weights without an EMA. */
    public ModelState(UNetConfig config, float[] params, float[] buffers, long bnBatches, float[] timeTable,
                      TimeTable timeTableKind) {
        this(config, params, buffers, bnBatches, timeTable, timeTableKind, null, null);
    }

    public static ModelState capture(UNet net, TimeTable kind) {
        boolean ema = net.hasEma();
        return new ModelState(net.config(), net.params(null), net.bufferValues(null), net.bnBatches(),
                net.timeTable(null), kind, ema ? net.emaParams(null) : null, ema ? net.emaBuffers(null) : null);
    }

    public boolean hasEma() {
        return emaParams != null;
    }

    /**
     * These weights with the chosen parameters as the model's and no EMA (for sampling,
     * export, fine-tuning). {@code w == null}: the EMA when there is one, else the raw ones.
     */
    public ModelState select(Weights w) {
        if (w == Weights.RAW || (w == null && emaParams == null)) {
            return emaParams == null ? this : new ModelState(config, params, buffers, bnBatches, timeTable, timeTableKind);
        }
        if (emaParams == null) {
            throw new CheckpointException(SettingText.of("the model keeps no EMA of its weights (trained with ",
                    Setting.EMA_DECAY, " 0, or before EMA existed); use ", Setting.WEIGHTS, " raw"));
        }
        return new ModelState(config, emaParams, emaBuffers, bnBatches, timeTable, timeTableKind);
    }

    /** Which weights {@link #select} takes for {@code w}. */
    public Weights resolve(Weights w) {
        return w != null ? w : emaParams != null ? Weights.EMA : Weights.RAW;
    }

    /** Loads these weights (and the EMA, if any) into {@code net}, which must have the same configuration. */
    public void applyTo(UNet net) {
        if (!net.config().equals(config)) {
            throw new CheckpointException("the weights are for " + Configs.describe(config) + ", the model is "
                    + Configs.describe(net.config()));
        }
        check("params", params.length, net.numParams());
        check("buffers", buffers.length, net.numBuffers());
        check("time table", timeTable.length, (long) config.timesteps() * config.timeDim());
        if (emaParams != null) {
            check("EMA params", emaParams.length, net.numParams());
            check("EMA buffers", emaBuffers.length, net.numBuffers());
        }
        net.setParams(params);
        net.setBufferValues(buffers);
        net.setBnBatches(bnBatches);
        net.setTimeTable(timeTable);
        if (emaParams != null) {
            net.setEmaParams(emaParams);
            net.setEmaBuffers(emaBuffers);
        }
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
        if (bad == null && emaParams != null) bad = firstNonFinite(emaParams, "EMA parameter");
        if (bad == null && emaBuffers != null) bad = firstNonFinite(emaBuffers, "EMA BatchNorm statistic");
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
