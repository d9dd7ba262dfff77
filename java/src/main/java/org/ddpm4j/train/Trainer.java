package org.ddpm4j.train;

import java.util.ArrayList;
import java.util.List;
import org.ddpm4j.data.Batch;
import org.ddpm4j.data.BatchLoader;
import org.ddpm4j.data.ImageSet;
import org.ddpm4j.model.UNet;

/**
 * The DDPM training loop over epochs. Each step hands a batch of uint8 pixels and
 * flips to {@link UNet#trainStep}, which on the backend scales to [-1, 1], draws
 * t and the noise from (seed, global step), noises, runs forward, MSE, backward
 * and Adam. Losses are read in batches ({@link LossTracker}); checkpoints are
 * written every {@code checkpointEvery} epochs, every {@code checkpointMinutes}, on a
 * stop request and at the end.
 */
public final class Trainer {
    private final UNet net;
    private final ImageSet data;
    private final TrainSettings settings;
    private final TrainingHooks hooks;
    private final Progress progress;
    private final List<LossSink> sinks = new ArrayList<>();
    private final LossStats stats;
    private final int perEpoch;

    public Trainer(UNet net, ImageSet data, TrainSettings settings, TrainingHooks hooks, Progress progress) {
        if (settings.batch() > net.maxBatch()) {
            throw new IllegalArgumentException("batch " + settings.batch() + " exceeds the model's max batch " + net.maxBatch());
        }
        if (data.imageSize() != net.config().sampleSize()) {
            throw new IllegalArgumentException("images of " + data.imageSize() + " values do not fit a model of "
                    + net.config().sampleSize());
        }
        this.net = net;
        this.data = data;
        this.settings = settings;
        this.hooks = hooks;
        this.progress = progress;
        this.perEpoch = BatchLoader.batchesPerEpoch(data.size(), settings.batch());
        this.stats = new LossStats(0.05, perEpoch);
        sinks.add(stats);
    }

    /** Another consumer of the losses (e.g. a {@link LossLog}). */
    public Trainer addLossSink(LossSink sink) {
        sinks.add(sink);
        return this;
    }

    public int batchesPerEpoch() {
        return perEpoch;
    }

    public LossStats stats() {
        return stats;
    }

    /** The global step a run with these settings ends at. */
    public long finalStep() {
        long all = (long) settings.epochs() * perEpoch;
        return settings.maxSteps() > 0 ? Math.min(all, settings.maxSteps()) : all;
    }

    /** Trains from {@code start} until the last epoch ends, maxSteps is reached or {@code stop} is requested. */
    public TrainingState run(TrainingState start, StopSignal stop) {
        TrainingState s = start;
        if (s.position() >= perEpoch) throw new IllegalArgumentException("resume position " + s.position() + " is past an epoch of " + perEpoch + " batches");
        long end = finalStep();
        LossSink fanOut = (first, losses) -> {
            for (LossSink k : sinks) k.accept(first, losses);
        };
        LossTracker tracker = new LossTracker(net, s.globalStep(), settings.logEvery(), 500_000_000L, fanOut);
        long lastCheckpoint = System.nanoTime();
        long checkpointNanos = settings.checkpointMinutes() > 0 ? (long) (settings.checkpointMinutes() * 60e9) : Long.MAX_VALUE;
        boolean savedAtCurrent = false;
        double rate = Double.NaN;
        progress.start("train", end, s.globalStep(), settings.epochs());
        try (BatchLoader loader = new BatchLoader(data, settings.batch(), settings.seed(), settings.flip(), s.epoch(),
                s.position(), 2)) {
            long t0 = System.nanoTime();
            while (s.globalStep() < end && !stop.requested()) {
                Batch b = loader.next();
                if (b.epoch() != s.epoch() || b.index() != s.position()) {
                    throw new IllegalStateException("batch loader out of step: got " + b.epoch() + "/" + b.index()
                            + ", expected " + s.epoch() + "/" + s.position());
                }
                net.trainStep(b.pixels(), b.flips(), net.config().conditional() ? b.labels() : null, b.size(),
                        settings.adam(), settings.seed(), s.globalStep());
                s = s.advance(perEpoch);
                savedAtCurrent = false;
                tracker.stepDone(s.globalStep());
                long t1 = System.nanoTime();
                double r = b.size() / Math.max(1e-9, (t1 - t0) / 1e9);
                rate = Double.isNaN(rate) ? r : rate + 0.1 * (r - rate);
                progress.update(s, stats.smoothed(), rate);
                if (s.position() == 0) {
                    tracker.flush(s.globalStep());
                    int finished = s.epoch() - 1;
                    progress.message(String.format(java.util.Locale.ROOT, "epoch %d/%d done: mean loss %.5f",
                            s.epoch(), settings.epochs(), stats.epochMean()));
                    if (s.epoch() % settings.checkpointEvery() == 0 || s.globalStep() >= end) {
                        hooks.checkpoint(s);
                        savedAtCurrent = true;
                        lastCheckpoint = System.nanoTime();
                    }
                    hooks.epochEnded(finished, s);
                } else if (System.nanoTime() - lastCheckpoint >= checkpointNanos) {
                    tracker.flush(s.globalStep());
                    hooks.checkpoint(s);
                    savedAtCurrent = true;
                    lastCheckpoint = System.nanoTime();
                }
                t0 = System.nanoTime();
            }
            tracker.flush(s.globalStep());
            if (!savedAtCurrent) hooks.checkpoint(s);
        } finally {
            progress.close();
        }
        return s;
    }
}
