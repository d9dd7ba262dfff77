package org.ddpm4j.sample;

import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;
import org.ddpm4j.model.UNet;

/**
 * Ancestral DDPM sampling with the native reverse-step kernel (BatchNorm in eval
 * mode): draws {@code count} images in chunks of at most the model's max batch.
 * Image k's noise is a function of (seed, k) only, so results do not depend on
 * the chunking, and the same seed gives the same images.
 */
public final class Sampler {
    /** Progress: reverse steps done so far out of count * timesteps image-steps. */
    @FunctionalInterface
    public interface Listener {
        void progress(long imageStepsDone, long imageStepsTotal);
    }

    private Sampler() {}

    public static SampleResult run(UNet net, SampleOptions o, Listener listener) {
        return run(net, o, listener, () -> false);
    }

    /**
     * As {@link #run(UNet, SampleOptions, Listener)}, giving up with a {@link CancellationException}
     * within one reverse step of {@code stop} turning true (e.g. Ctrl-C during a training run's grid).
     */
    public static SampleResult run(UNet net, SampleOptions o, Listener listener, BooleanSupplier stop) {
        int T = net.config().timesteps();
        int per = net.config().sampleSize();
        int C = net.config().inChannels(), H = net.config().height(), W = net.config().width();
        int chunk = net.maxBatch();
        boolean wantMid = o.midStep() >= 0 && o.midStep() < T;
        int stripN = Math.min(o.stripImages(), Math.min(o.count(), chunk));
        int frames = Math.min(o.stripFrames(), T + 1);  // distinct times only
        int[] stripTimes = stripTimes(T, frames);
        float[] finals = new float[o.count() * per];
        float[] mid = wantMid ? new float[o.count() * per] : null;
        float[] strip = stripN > 0 ? new float[stripN * frames * per] : null;
        long total = (long) o.count() * T;
        long done = 0;
        for (int first = 0; first < o.count(); first += chunk) {
            int n = Math.min(chunk, o.count() - first);
            net.sampleBegin(n, o.seed(), first);
            boolean stripChunk = first == 0 && strip != null;
            int frame = 0;
            if (stripChunk) saveStrip(net.sampleRead(false), strip, stripN, frames, frame++, per);
            for (int t = T - 1; t >= 0; t--) {
                if (stop.getAsBoolean()) throw new CancellationException("sampling stopped at t = " + t);
                net.sampleStep(t);
                if (wantMid && t == o.midStep()) System.arraycopy(net.sampleRead(false), 0, mid, first * per, n * per);
                if (stripChunk && frame < frames && t == stripTimes[frame]) {
                    saveStrip(net.sampleRead(t == 0), strip, stripN, frames, frame++, per);
                }
                done += n;
                if (listener != null && (t % 10 == 0)) listener.progress(done, total);
            }
            System.arraycopy(net.sampleRead(true), 0, finals, first * per, n * per);
        }
        if (listener != null) listener.progress(total, total);
        return new SampleResult(new Images(o.count(), C, H, W, finals),
                wantMid ? new Images(o.count(), C, H, W, mid) : null,
                strip != null ? new Images(stripN * frames, C, H, W, strip) : null, stripTimes);
    }

    /**
     * Frame 0 is x_T (labelled T); frame f >= 1 is read after the reverse step at
     * t_f, evenly spaced from T-1 down to 0.
     */
    static int[] stripTimes(int T, int frames) {
        int[] ts = new int[frames];
        ts[0] = T;
        for (int f = 1; f < frames; f++) {
            ts[f] = (int) Math.round((T - 1) * (1.0 - (double) (f - 1) / (frames - 2 == 0 ? 1 : frames - 2)));
        }
        if (frames == 2) ts[1] = 0;
        ts[frames - 1] = 0;
        return ts;
    }

    private static void saveStrip(float[] x, float[] strip, int stripN, int frames, int frame, int per) {
        for (int i = 0; i < stripN; i++) System.arraycopy(x, i * per, strip, (i * frames + frame) * per, per);
    }
}
