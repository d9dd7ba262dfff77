package org.ddpm4j.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.ddpm4j.data.Batch;
import org.ddpm4j.data.BatchLoader;
import org.ddpm4j.data.ImageSet;
import org.ddpm4j.model.UNet;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.setting.SettingText;
import org.ddpm4j.train.TimeBreakdown.Phase;

/**
 * The DDPM training loop over epochs. Each step hands a batch of uint8 pixels and
 * flips to {@link UNet#trainStep}, which on the backend scales to [-1, 1], draws
 * t and the noise from (seed, global step), noises, runs forward, MSE, backward
 * and Adam. Losses are read in batches ({@link LossTracker}) and watched for
 * divergence ({@link DivergenceGuard}); checkpoints are taken every
 * {@code checkpointEvery} epochs, every {@code checkpointMinutes}, on a stop request
 * and at the end. The wall time of each part of the loop goes into a
 * {@link TimeBreakdown}.
 */
public final class Trainer {
    /** Steps of each invocation counted as warm-up (cuDNN's algorithm search, CUDA graph capture). */
    public static final int WARMUP_STEPS = 3;
    /** The window of the displayed images/s and steps/s. */
    static final long SPEED_WINDOW_NANOS = 10_000_000_000L;

    private final UNet net;
    private final ImageSet data;
    private final TrainSettings settings;
    private final TrainingHooks hooks;
    private final Progress progress;
    private final List<LossSink> sinks = new ArrayList<>();
    private final LossStats stats;
    private final int perEpoch;
    private final TimeBreakdown times;
    private long steadyImages;
    private long steadySteps;
    private long epochImages;          // images of the epoch in progress (this invocation)
    private int epochsTimed;           // complete epochs of this invocation
    private long steadyEpochImages;    // images of the complete epochs after the first one of this invocation
    private long steadyEpochNanos;     // their wall time, checkpoints taken in them included

    public Trainer(UNet net, ImageSet data, TrainSettings settings, TrainingHooks hooks, Progress progress) {
        this(net, data, settings, hooks, progress, new TimeBreakdown());
    }

    public Trainer(UNet net, ImageSet data, TrainSettings settings, TrainingHooks hooks, Progress progress, TimeBreakdown times) {
        if (settings.batch() > net.maxBatch()) {
            throw new IllegalArgumentException("batch " + settings.batch() + " exceeds the model's max batch " + net.maxBatch());
        }
        if (data.imageSize() != net.config().sampleSize()) {
            throw new IllegalArgumentException("images of " + data.imageSize() + " values do not fit a model of "
                    + net.config().sampleSize());
        }
        this.net = net;
        this.data = data;
        this.perEpoch = BatchLoader.batchesPerEpoch(data.size(), settings.batch());
        // A decay without its end given ends at this run's last step (TrainJob records the same in checkpoints).
        this.settings = settings.withLrSchedule(settings.lrSchedule().resolved(finalStep(settings, perEpoch)));
        this.hooks = hooks;
        this.progress = progress;
        this.times = times;
        this.stats = new LossStats(0.05, perEpoch);
        sinks.add(stats);
        sinks.add(new DivergenceGuard(settings.adam().lrText(), progress::message));
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

    public TimeBreakdown times() {
        return times;
    }

    /** The global step a run with these settings ends at. */
    public long finalStep() {
        return finalStep(settings, perEpoch);
    }

    /** The global step where a run with these settings and {@code batchesPerEpoch} ends. */
    public static long finalStep(TrainSettings settings, int batchesPerEpoch) {
        long all = (long) settings.epochs() * batchesPerEpoch;
        return settings.maxSteps() > 0 ? Math.min(all, settings.maxSteps()) : all;
    }

    /** Which limit ends the run, e.g. "the end of epoch 2 (--epochs 2)" or "--steps 300 (in epoch 1)". */
    public SettingText finalStepReason() {
        long all = (long) settings.epochs() * perEpoch;
        if (settings.maxSteps() > 0 && settings.maxSteps() < all) {
            return SettingText.of(Setting.STEPS, String.format(Locale.ROOT, " %d (in epoch %d of %d)", settings.maxSteps(),
                    settings.maxSteps() / perEpoch + 1, settings.epochs()));
        }
        SettingText beyond = settings.maxSteps() > all
                ? SettingText.of("; ", Setting.STEPS, " " + settings.maxSteps() + " is beyond it") : SettingText.of();
        return SettingText.of("the end of epoch " + settings.epochs() + " (", Setting.EPOCHS,
                String.format(Locale.ROOT, " %d, %d steps each)", settings.epochs(), perEpoch), beyond);
    }

    /** Images per second of the steps after warm-up, over the time spent in them (training phase only). */
    public double steadyImagesPerSecond() {
        double s = times.seconds(Phase.STEPS);
        return steadySteps > 0 && s > 0 ? steadyImages / s : Double.NaN;
    }

    /**
     * Steady-state epoch throughput: images of the complete epochs after this invocation's first (which
     * holds the warm-up) over their wall time, including the checkpoints taken during them and the loss
     * reads, excluding the sample grids between epochs. NaN with fewer than two complete epochs.
     */
    public double steadyEpochImagesPerSecond() {
        return steadyEpochNanos > 0 ? steadyEpochImages / (steadyEpochNanos / 1e9) : Double.NaN;
    }

    /** Trains from {@code start} until the last epoch ends, maxSteps is reached or {@code stop} is requested. */
    public TrainingState run(TrainingState start, StopSignal stop) {
        TrainingState s = start;
        if (s.position() >= perEpoch) throw new IllegalArgumentException("resume position " + s.position() + " is past an epoch of " + perEpoch + " batches");
        long end = finalStep();
        LossSink fanOut = new LossSink() {
            @Override
            public void accept(long first, float[] losses) {
                accept(first, losses, null);
            }

            @Override
            public void accept(long first, float[] losses, float[] gradNorms) {
                for (LossSink k : sinks) k.accept(first, losses, gradNorms);
            }
        };
        LossTracker tracker = new LossTracker(net, s.globalStep(), settings.logEvery(), 500_000_000L, fanOut,
                settings.maxGradNorm() > 0);
        long lastCheckpoint = System.nanoTime();
        long checkpointNanos = settings.checkpointMinutes() > 0 ? (long) (settings.checkpointMinutes() * 60e9) : Long.MAX_VALUE;
        boolean savedAtCurrent = false;
        boolean checkpointDue = false;
        Throughput speed = new Throughput(SPEED_WINDOW_NANOS);
        int stepsHere = 0;
        progress.start("train", end, s.globalStep(), settings.epochs());
        try (BatchLoader loader = new BatchLoader(data, settings.batch(), settings.seed(), settings.flip(), s.epoch(),
                s.position(), 2)) {
            long mark = System.nanoTime();
            long epochStart = mark;  // when the epoch in progress began, grid time excluded
            speed.start(mark);
            while (s.globalStep() < end && !stop.requested()) {
                Batch b = loader.next();
                long got = System.nanoTime();
                times.add(Phase.DATA, got - mark);
                if (b.epoch() != s.epoch() || b.index() != s.position()) {
                    throw new IllegalStateException("batch loader out of step: got " + b.epoch() + "/" + b.index()
                            + ", expected " + s.epoch() + "/" + s.position());
                }
                net.trainStep(b.pixels(), b.flips(), net.config().conditional() ? b.labels() : null, b.size(),
                        settings.adamAt(s.globalStep()), settings.seed(), s.globalStep());
                s = s.advance(perEpoch);
                savedAtCurrent = false;
                stepsHere++;
                boolean warmup = stepsHere <= WARMUP_STEPS;
                if (stepsHere == WARMUP_STEPS) tracker.flush(s.globalStep());  // waits for the device: warm-up ends here
                else tracker.stepDone(s.globalStep());
                long done = System.nanoTime();
                speed.step(done, b.size());
                progress.update(s, stats.smoothed(), speed.imagesPerSecond(), speed.stepsPerSecond());
                if (!warmup) {
                    steadyImages += b.size();
                    steadySteps++;
                }
                epochImages += b.size();
                mark = System.nanoTime();
                times.add(warmup ? Phase.WARMUP : Phase.STEPS, mark - got);
                boolean epochEnd = s.position() == 0;
                if (epochEnd) {
                    tracker.flush(s.globalStep());
                    long epochEndNanos = System.nanoTime();
                    long took = epochEndNanos - epochStart;
                    epochStart = epochEndNanos;
                    progress.message(String.format(Locale.ROOT, "epoch %d/%d done in %.1f s (%s img/s): mean loss %s",
                            s.epoch(), settings.epochs(), took / 1e9, LineProgress.rate(epochImages / (took / 1e9)),
                            LossFormat.of(stats.epochMean())));
                    // The first epoch end of an invocation closes a partial epoch (a resumed run) or the one
                    // holding the warm-up: steady state starts after it.
                    if (++epochsTimed > 1) {
                        steadyEpochImages += epochImages;
                        steadyEpochNanos += took;
                    }
                    epochImages = 0;
                    mark = account(Phase.STEPS, mark);
                    if (s.epoch() % settings.checkpointEvery() == 0) checkpointDue = true;
                }
                if (System.nanoTime() - lastCheckpoint >= checkpointNanos) checkpointDue = true;
                boolean last = s.globalStep() >= end;  // the run's last checkpoint comes before a last grid
                if (last || (checkpointDue && !hooks.checkpointPending())) {
                    if (!epochEnd) {
                        tracker.flush(s.globalStep());  // losses up to here pass the divergence guard first
                        mark = account(Phase.STEPS, mark);
                    }
                    hooks.checkpoint(s);
                    checkpointDue = false;
                    savedAtCurrent = true;
                    lastCheckpoint = System.nanoTime();
                    mark = account(Phase.CHECKPOINTS, mark);
                }
                if (epochEnd) {
                    long beforeGrid = mark;
                    hooks.epochEnded(s.epoch() - 1, s, stop);
                    mark = account(Phase.GRIDS, mark);
                    epochStart += mark - beforeGrid;  // epoch times leave the grids out (they hold the checkpoints)
                }
            }
            tracker.flush(s.globalStep());
            mark = account(Phase.STEPS, mark);
            if (!savedAtCurrent) {
                hooks.checkpoint(s);
                account(Phase.CHECKPOINTS, mark);
            }
        } finally {
            progress.close();
        }
        return s;
    }

    /** Adds the time since {@code since} to {@code phase}; returns now. */
    private long account(Phase phase, long since) {
        long now = System.nanoTime();
        times.add(phase, now - since);
        return now;
    }
}
