package org.ddpm4j.job;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.checkpoint.Checkpoint;
import org.ddpm4j.checkpoint.CheckpointFile;
import org.ddpm4j.checkpoint.CheckpointMeta;
import org.ddpm4j.checkpoint.Configs;
import org.ddpm4j.checkpoint.ModelState;
import org.ddpm4j.checkpoint.OptimizerState;
import org.ddpm4j.data.CifarLocator;
import org.ddpm4j.data.DataException;
import org.ddpm4j.data.DataSources;
import org.ddpm4j.data.DataSpec;
import org.ddpm4j.data.LoadedData;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.image.ImageGrid;
import org.ddpm4j.image.LossPlot;
import org.ddpm4j.image.PngFiles;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.sample.SampleOptions;
import org.ddpm4j.sample.SampleResult;
import org.ddpm4j.sample.Sampler;
import org.ddpm4j.train.LossLog;
import org.ddpm4j.train.Progress;
import org.ddpm4j.train.StopSignal;
import org.ddpm4j.train.Trainer;
import org.ddpm4j.train.TrainingHooks;
import org.ddpm4j.train.TrainingState;
import org.ddpm4j.train.TrainSettings;

/**
 * A training (or fine-tuning) run into an output folder: loads the data, builds or
 * restores the model, trains with checkpoints, a loss log, periodic sample grids and
 * a loss plot, and stops cleanly (with a checkpoint) on Ctrl-C.
 */
public final class TrainJob {

    /**
     * @param model model shape and schedule
     * @param settings hyper-parameters and cadences
     * @param data what to train on
     * @param cifar where to find (or fetch) CIFAR-10
     * @param outDir the run folder
     * @param resumeFrom the run folder's checkpoint when resuming, else null
     * @param force start over even if the folder holds a checkpoint
     * @param progress how to show progress
     * @param initial starting weights of a fine-tune (fresh Adam state), else null
     * @param finetunedFrom the base of a fine-tune, recorded in the checkpoint, else null
     */
    public record Request(UNetConfig model, TrainSettings settings, DataSpec data, CifarLocator cifar, Path outDir,
                          Checkpoint resumeFrom, boolean force, Progress.Mode progress, ModelState initial,
                          String finetunedFrom) {}

    /**
     * @param end where the run stopped
     * @param stepsTrained steps trained by this invocation
     * @param seconds wall time of the training loop (with sampling and checkpoints)
     * @param firstLoss mean loss of the first steps of this invocation (up to 50, at most half of them)
     * @param lastLoss mean loss of as many last steps
     * @param window how many steps each of those means covers
     * @param grids sample grids written
     */
    public record Result(TrainingState end, long stepsTrained, double seconds, double firstLoss, double lastLoss,
                         int window, RunFiles files, List<Path> grids) {}

    private TrainJob() {}

    public static Result run(Backend backend, Request req, PrintStream log) {
        RunFiles files = new RunFiles(req.outDir());
        Path ckpt = files.checkpoint();
        if (req.resumeFrom() == null && Files.exists(ckpt) && !req.force()) {
            throw new IllegalArgumentException(ckpt + " already exists; pass --resume to continue that run or --force to start over");
        }
        try {
            Files.createDirectories(req.outDir());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + req.outDir() + ": " + e.getMessage(), e);
        }
        UNetConfig cfg = req.model();
        TrainSettings s = req.settings();
        LoadedData loaded = DataSources.load(req.data(), cfg.inChannels(), cfg.height(), cfg.width(), req.cifar(), log::println);
        int images = loaded.images().size();
        if (req.resumeFrom() != null && req.resumeFrom().meta().images() > 0 && req.resumeFrom().meta().images() != images) {
            throw new DataException("the data changed since the checkpoint: it trained on " + req.resumeFrom().meta().images()
                    + " images, " + loaded.spec().describe() + " now has " + images);
        }
        cfg = conditionalOn(cfg, loaded);
        CheckpointMeta meta = new CheckpointMeta(cfg, s, loaded.spec(), images, req.finetunedFrom(),
                cfg.conditional() ? loaded.images().classNames() : null);
        try (UNet net = backend.createUNet(cfg, s.batch())) {
            TimeTable kind = prepare(net, req);
            prepareEma(net, s);
            TrainingState start = req.resumeFrom() != null ? req.resumeFrom().progress() : TrainingState.START;
            List<Path> grids = new ArrayList<>();
            Progress progress = Progress.create(req.progress(), log);
            Trainer trainer = new Trainer(net, loaded.images(), s, new Hooks(net, meta, kind, files, grids, progress, log), progress);
            long end = trainer.finalStep();
            log.printf(Locale.ROOT, "model: %s, %,d parameters, %s time table%s%s%n", Configs.describe(cfg), net.numParams(),
                    kind.label(), s.emaDecay() > 0 ? ", EMA decay " + s.emaDecay() : ", no EMA",
                    cfg.conditional() ? ", label dropout " + s.condDrop() : "");
            log.printf(Locale.ROOT, "data: %s, %,d images%s; batch %d, %d steps per epoch, %d epochs%s, lr %s%n",
                    loaded.spec().describe(), images, loaded.spec().path() == null ? "" : " (" + loaded.spec().path() + ")",
                    s.batch(), trainer.batchesPerEpoch(), s.epochs(), s.maxSteps() > 0 ? ", stop at step " + s.maxSteps() : "",
                    lr(s.adam().lr()));
            log.printf(Locale.ROOT, "backend: %s (%s, %d threads), %.1f MiB; output: %s%n", backend.name(), backend.deviceName(),
                    backend.threads(), net.backendBytes() / 1048576.0, req.outDir());
            if (start.globalStep() >= end) {
                log.printf(Locale.ROOT, "nothing to do: the run is at step %d of %d (raise --epochs or --steps to train further)%n",
                        start.globalStep(), end);
                return new Result(start, 0, 0, Double.NaN, Double.NaN, 0, files, grids);
            }
            if (start.globalStep() > 0) log.printf(Locale.ROOT, "resuming at step %d (epoch %d, batch %d)%n", start.globalStep(), start.epoch() + 1, start.position());
            FirstLast fl = new FirstLast((int) Math.max(1, Math.min(50, (end - start.globalStep()) / 2)));
            StopSignal stop = new StopSignal();
            Thread hook = new Thread(() -> {
                stop.request();
                stop.awaitFinished(300);
            }, "ddpm-stop");
            Runtime.getRuntime().addShutdownHook(hook);
            long t0 = System.nanoTime();
            TrainingState reached;
            try (LossLog lossLog = LossLog.open(files.lossLog(), start.globalStep(), trainer.batchesPerEpoch())) {
                trainer.addLossSink(lossLog).addLossSink(fl);
                reached = trainer.run(start, stop);
            } finally {
                stop.finished();
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException ignored) {
                    // the JVM is already shutting down (Ctrl-C): the hook is running
                }
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            writeLossPlot(files, cfg, log::println);
            if (stop.requested()) log.printf(Locale.ROOT, "stopped at step %d; resume with --resume%n", reached.globalStep());
            return new Result(reached, reached.globalStep() - start.globalStep(), seconds, fl.first(), fl.last(), fl.n, files, grids);
        }
    }

    private static String lr(double v) {
        return new java.math.BigDecimal(Double.toString(v)).stripTrailingZeros().toPlainString();
    }

    /**
     * A class-conditional request on as many classes as the data has gets that number; a
     * conditional model's data must have exactly its classes.
     */
    private static UNetConfig conditionalOn(UNetConfig cfg, LoadedData loaded) {
        int classes = loaded.images().classNames().size();
        if (cfg.numClasses() == UNetConfig.CLASSES_FROM_DATA) return cfg.withNumClasses(classes);
        if (cfg.numClasses() > 0 && cfg.numClasses() != classes) {
            throw new DataException("the model is conditional on " + cfg.numClasses() + " classes, but "
                    + loaded.spec().describe() + " has " + classes);
        }
        return cfg;
    }

    /**
     * The EMA of the weights (after the weights are loaded, so that a new EMA starts at
     * them; a resumed one was restored with them) and the label dropout.
     */
    private static void prepareEma(UNet net, TrainSettings s) {
        if (s.emaDecay() > 0) net.setEma(s.emaDecay());
        if (net.config().conditional()) net.setCondDrop(s.condDrop());
    }

    /** Initialises, fine-tune-loads or restores the model; returns its time-table kind. */
    private static TimeTable prepare(UNet net, Request req) {
        UNetConfig cfg = req.model();
        net.init(req.settings().seed());
        TimeTable kind = req.settings().timeTable();
        if (kind == TimeTable.NOTEBOOK) net.setTimeTable(TimeTable.notebook(cfg.timesteps(), cfg.timeDim()));
        if (req.initial() != null) {
            req.initial().applyTo(net);
            kind = req.initial().timeTableKind();
        }
        if (req.resumeFrom() != null) {
            req.resumeFrom().model().applyTo(net);
            req.resumeFrom().optimizer().applyTo(net);
            kind = req.resumeFrom().model().timeTableKind();
        }
        return kind;
    }

    /**
     * Writes loss.png from the loss log. A chart must never end a run: a failure
     * (e.g. a JVM without a working font system) is reported through {@code warn}.
     */
    static void writeLossPlot(RunFiles files, UNetConfig cfg, java.util.function.Consumer<String> warn) {
        try {
            writeLossPlot(files, cfg);
        } catch (VirtualMachineError e) {
            throw e;
        } catch (Throwable t) {
            warn.accept("warning: could not write " + files.lossPlot() + " (" + t.getClass().getSimpleName() + ": "
                    + t.getMessage() + "); training goes on");
        }
    }

    static void writeLossPlot(RunFiles files, UNetConfig cfg) {
        if (!Files.exists(files.lossLog())) return;
        List<LossLog.Entry> entries = LossLog.read(files.lossLog());
        long[] steps = new long[entries.size()];
        float[] losses = new float[entries.size()];
        for (int i = 0; i < steps.length; i++) {
            steps[i] = entries.get(i).step();
            losses[i] = entries.get(i).loss();
        }
        String title = "training loss: " + files.dir().getFileName() + " (base " + cfg.baseWidth() + ", depth " + cfg.depth() + ")";
        try {
            PngFiles.write(LossPlot.render(steps, losses, LossPlot.WIDTH, LossPlot.HEIGHT, title), files.lossPlot());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + files.lossPlot() + ": " + e.getMessage(), e);
        }
    }

    /** Checkpoints and periodic sample grids. */
    private static final class Hooks implements TrainingHooks {
        private final UNet net;
        private final CheckpointMeta meta;
        private final TimeTable kind;
        private final RunFiles files;
        private final List<Path> grids;
        private final Progress progress;
        private final PrintStream log;

        Hooks(UNet net, CheckpointMeta meta, TimeTable kind, RunFiles files, List<Path> grids, Progress progress, PrintStream log) {
            this.net = net;
            this.meta = meta;
            this.kind = kind;
            this.files = files;
            this.grids = grids;
            this.progress = progress;
            this.log = log;
        }

        @Override
        public void checkpoint(TrainingState state) {
            Checkpoint c = new Checkpoint(meta, ModelState.capture(net, kind), OptimizerState.capture(net), state);
            CheckpointFile.write(files.checkpoint(), c);
        }

        @Override
        public void epochEnded(int epoch, TrainingState state) {
            writeLossPlot(files, meta.model(), progress::message);
            int every = meta.training().sampleEvery();
            int done = epoch + 1;
            boolean last = done >= meta.training().epochs();
            if (every <= 0 || (done % every != 0 && !last)) return;
            Path out = files.epochGrid(done);
            long t0 = System.nanoTime();
            progress.message(String.format(Locale.ROOT, "epoch %d: sampling 100 images (%d steps each) for %s",
                    done, meta.model().timesteps(), out));
            SampleOptions o = new SampleOptions(100, meta.training().seed(), -1, 0, 2);
            // Grids show what sampling will use: the EMA weights when there are some.
            if (net.hasEma()) net.swapEma();
            SampleResult r;
            try {
                r = Sampler.run(net, o, null);
            } finally {
                if (net.hasEma()) net.swapEma();
            }
            try {
                PngFiles.write(ImageGrid.square(r.images()), out);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + out + ": " + e.getMessage(), e);
            }
            grids.add(out);
            progress.message(String.format(Locale.ROOT, "wrote %s (%.1f s)", out, (System.nanoTime() - t0) / 1e9));
        }
    }

    /** Mean of the first and of the last n losses seen. */
    private static final class FirstLast implements org.ddpm4j.train.LossSink {
        private final int n;
        private final float[] ring;
        private double firstSum;
        private int firstCount;
        private long seen;

        FirstLast(int n) {
            this.n = n;
            this.ring = new float[n];
        }

        @Override
        public void accept(long firstStep, float[] losses) {
            for (float l : losses) {
                if (firstCount < n) {
                    firstSum += l;
                    firstCount++;
                }
                ring[(int) (seen++ % n)] = l;
            }
        }

        double first() {
            return firstCount == 0 ? Double.NaN : firstSum / firstCount;
        }

        double last() {
            int k = (int) Math.min(seen, n);
            if (k == 0) return Double.NaN;
            double sum = 0;
            for (int i = 0; i < k; i++) sum += ring[i];
            return sum / k;
        }
    }
}
