package org.ddpm4j.train;

/**
 * Images and steps per second over the recent past: images done divided by the wall
 * time they took, over a sliding window of {@code windowNanos} (at least two steps).
 * On an asynchronous device a step "returns" when it is queued, not when it has run;
 * over a window of seconds the queue (a few steps deep) no longer matters, where a
 * per-step rate would report the queueing speed.
 */
public final class Throughput {
    private static final int CAPACITY = 4096;
    private final long windowNanos;
    private final long[] times = new long[CAPACITY];
    private final long[] images = new long[CAPACITY];
    private long count;  // samples recorded
    private long totalImages;

    public Throughput(long windowNanos) {
        this.windowNanos = windowNanos;
    }

    /** Marks the moment counting starts (the first step's start). */
    public void start(long nanos) {
        record(nanos, 0);
    }

    /** One step of {@code n} images finished at {@code nanos}. */
    public void step(long nanos, int n) {
        record(nanos, n);
    }

    private void record(long nanos, int n) {
        totalImages += n;
        int i = (int) (count % CAPACITY);
        times[i] = nanos;
        images[i] = totalImages;
        count++;
    }

    /** The oldest sample still inside the window (or the oldest kept, if the window holds fewer than two). */
    private int oldest() {
        long newestTime = times[(int) ((count - 1) % CAPACITY)];
        long first = Math.max(0, count - CAPACITY);
        long k = count - 2;  // at least one step back
        while (k > first && newestTime - times[(int) ((k - 1) % CAPACITY)] <= windowNanos) k--;
        return (int) (Math.max(k, first) % CAPACITY);
    }

    public double imagesPerSecond() {
        if (count < 2) return Double.NaN;
        int newest = (int) ((count - 1) % CAPACITY), old = oldest();
        return rate(images[newest] - images[old], times[newest] - times[old]);
    }

    public double stepsPerSecond() {
        if (count < 2) return Double.NaN;
        int newest = (int) ((count - 1) % CAPACITY), old = oldest();
        long steps = Math.floorMod(newest - old, CAPACITY);
        return rate(steps, times[newest] - times[old]);
    }

    private static double rate(long amount, long nanos) {
        return nanos > 0 ? amount / (nanos / 1e9) : Double.NaN;
    }
}
