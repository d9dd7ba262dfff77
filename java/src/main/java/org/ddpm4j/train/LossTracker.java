package org.ddpm4j.train;

import org.ddpm4j.model.UNet;
import org.ddpm4j.setting.Setting;

/**
 * Reads training losses (and, when the run clips, gradient norms) from the model's rings in batches: every {@code everySteps}
 * steps or after {@code everyNanos} of wall time, whichever comes first, and on
 * {@link #flush}. Reading waits for the device, so it is not done every step.
 */
public final class LossTracker {
    private final UNet net;
    private final int everySteps;
    private final long everyNanos;
    private final LossSink sink;
    private final int ring;
    private final boolean gradNorms;
    private long next;
    private long lastRead = System.nanoTime();

    /** @param firstStep the first step whose loss is not yet read */
    public LossTracker(UNet net, long firstStep, int everySteps, long everyNanos, LossSink sink) {
        this(net, firstStep, everySteps, everyNanos, sink, false);
    }

    /** @param gradNorms also read each step's gradient norm (a run that clips gradients) */
    public LossTracker(UNet net, long firstStep, int everySteps, long everyNanos, LossSink sink, boolean gradNorms) {
        this.ring = net.lossRing();
        if (everySteps < 1 || everySteps > ring) {
            throw Setting.LOG_EVERY.invalid("must be in [1, " + ring + "] (the losses the model keeps), got " + everySteps);
        }
        this.net = net;
        this.next = firstStep;
        this.everySteps = everySteps;
        this.everyNanos = everyNanos;
        this.sink = sink;
        this.gradNorms = gradNorms;
    }

    /** Call after each step; {@code stepsDone} = global steps trained so far. */
    public void stepDone(long stepsDone) {
        long pending = stepsDone - next;
        if (pending >= everySteps || (pending > 0 && System.nanoTime() - lastRead >= everyNanos)) flush(stepsDone);
    }

    public void flush(long stepsDone) {
        while (next < stepsDone) {
            int count = (int) Math.min(stepsDone - next, ring / 2);
            float[] losses = net.losses(next, count);
            sink.accept(next, losses, gradNorms ? net.gradNorms(next, count) : null);
            next += count;
        }
        lastRead = System.nanoTime();
    }
}
