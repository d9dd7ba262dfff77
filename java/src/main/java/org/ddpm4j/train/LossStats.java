package org.ddpm4j.train;

/** Running loss figures for progress display: an exponential moving average and per-epoch means. */
public final class LossStats implements LossSink {
    private final double alpha;
    private final int perEpoch;
    private double ema = Double.NaN;
    private double epochSum;
    private long epochCount;
    private int epoch = -1;
    private double lastEpochMean = Double.NaN;

    public LossStats(double alpha, int perEpoch) {
        this.alpha = alpha;
        this.perEpoch = perEpoch;
    }

    @Override
    public void accept(long firstStep, float[] losses) {
        for (int i = 0; i < losses.length; i++) {
            float l = losses[i];
            int e = (int) ((firstStep + i) / perEpoch);
            if (e != epoch) {
                if (epochCount > 0) lastEpochMean = epochSum / epochCount;
                epoch = e;
                epochSum = 0;
                epochCount = 0;
            }
            if (!Float.isFinite(l)) continue;
            ema = Double.isNaN(ema) ? l : ema + alpha * (l - ema);
            epochSum += l;
            epochCount++;
        }
    }

    public double smoothed() {
        return ema;
    }

    /** Mean loss of the epoch in progress (steps read so far). */
    public double epochMean() {
        return epochCount > 0 ? epochSum / epochCount : Double.NaN;
    }

    /** Mean loss of the last complete epoch seen. */
    public double lastEpochMean() {
        return lastEpochMean;
    }
}
