package org.ddpm4j.train;

import java.util.SplittableRandom;
import org.ddpm4j.model.UNet;
import org.ddpm4j.optim.AdamConfig;
import org.ddpm4j.setting.Setting;

/**
 * Times the training step and the sampling forward pass (one ancestral step: eval
 * forward plus the reverse-step kernel) of a model at a batch size, after warm-up.
 * Each timed region ends with a read from the backend, so asynchronous backends are
 * measured to completion. Reusable from JMH.
 */
public final class Benchmark {
    /**
     * @param trainImagesPerSecond images per second through {@link UNet#trainStep}
     * @param forwardImagesPerSecond images per second through {@link UNet#sampleStep}
     * @param peakMemoryBytes backend memory the model holds
     */
    public record Result(double trainImagesPerSecond, double forwardImagesPerSecond, long peakMemoryBytes) {}

    private Benchmark() {}

    public static Result run(UNet net, int batch, int warmup, int iters, long seed) {
        if (batch < 1 || batch > net.maxBatch()) throw new IllegalArgumentException("batch " + batch + " is outside [1, " + net.maxBatch() + "]");
        if (warmup < 0) throw Setting.WARMUP.invalid("must be >= 0, got " + warmup);
        if (iters < 1) throw Setting.ITERS.invalid("must be >= 1, got " + iters);
        byte[] pixels = new byte[batch * net.config().sampleSize()];
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < pixels.length; i++) pixels[i] = (byte) rnd.nextInt(256);
        byte[] flips = new byte[batch];
        AdamConfig adam = AdamConfig.withLr(1e-4);
        long step = 0;
        for (int i = 0; i < warmup; i++) net.trainStep(pixels, flips, batch, adam, seed, step++);
        if (warmup > 0) net.losses(step - 1, 1);
        long t0 = System.nanoTime();
        long first = step;
        for (int i = 0; i < iters; i++) net.trainStep(pixels, flips, batch, adam, seed, step++);
        net.losses(first, (int) Math.min(iters, net.lossRing() / 2));
        double train = (System.nanoTime() - t0) / 1e9;

        int timesteps = net.config().timesteps();
        net.sampleBegin(batch, seed, 0);
        int t = timesteps - 1;
        for (int i = 0; i < warmup; i++) {
            net.sampleStep(t);
            t = t > 0 ? t - 1 : timesteps - 1;
        }
        net.sampleRead(false);
        long t1 = System.nanoTime();
        for (int i = 0; i < iters; i++) {
            net.sampleStep(t);
            t = t > 0 ? t - 1 : timesteps - 1;
        }
        net.sampleRead(false);
        double forward = (System.nanoTime() - t1) / 1e9;
        return new Result((double) batch * iters / train, (double) batch * iters / forward, net.backendBytes());
    }
}
