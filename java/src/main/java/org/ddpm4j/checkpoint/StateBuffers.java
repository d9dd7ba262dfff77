package org.ddpm4j.checkpoint;

import java.nio.FloatBuffer;

/**
 * The arrays and counters of a checkpoint as float buffers, wherever they live: heap arrays
 * ({@link #of}) or host memory a device snapshot was copied into. Each buffer's remaining
 * floats are written.
 *
 * @param emaParams the parameters' EMA, or null when the model keeps none
 * @param emaBuffers the BatchNorm statistics' EMA, null exactly when emaParams is
 */
public record StateBuffers(FloatBuffer params, FloatBuffer buffers, FloatBuffer adam, FloatBuffer emaParams,
                           FloatBuffer emaBuffers, FloatBuffer timeTable, long adamStep, long bnBatches) {

    public StateBuffers {
        if ((emaParams == null) != (emaBuffers == null)) throw new IllegalArgumentException("StateBuffers: half an EMA");
    }

    public static StateBuffers of(ModelState m, OptimizerState o) {
        return new StateBuffers(FloatBuffer.wrap(m.params()), FloatBuffer.wrap(m.buffers()), FloatBuffer.wrap(o.moments()),
                m.hasEma() ? FloatBuffer.wrap(m.emaParams()) : null, m.hasEma() ? FloatBuffer.wrap(m.emaBuffers()) : null,
                FloatBuffer.wrap(m.timeTable()), o.adamStep(), m.bnBatches());
    }

    /** Where a parameter or BatchNorm statistic (live or averaged) is NaN or infinite, in words; null when all are finite. */
    public String firstNonFinite() {
        String bad = firstNonFinite(params, "a parameter");
        if (bad == null) bad = firstNonFinite(buffers, "a BatchNorm running statistic");
        if (bad == null && emaParams != null) bad = firstNonFinite(emaParams, "an EMA parameter");
        if (bad == null && emaBuffers != null) bad = firstNonFinite(emaBuffers, "an EMA BatchNorm statistic");
        return bad;
    }

    private static String firstNonFinite(FloatBuffer b, String what) {
        for (int i = b.position(); i < b.limit(); i++) {
            if (!Float.isFinite(b.get(i))) return what + " (index " + (i - b.position()) + ": " + b.get(i) + ")";
        }
        return null;
    }
}
