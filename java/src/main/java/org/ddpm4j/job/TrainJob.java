package org.ddpm4j.job;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.checkpoint.AtomicFiles;
import org.ddpm4j.checkpoint.Checkpoint;
import org.ddpm4j.checkpoint.CheckpointMeta;
import org.ddpm4j.checkpoint.Configs;
import org.ddpm4j.checkpoint.ModelState;
import org.ddpm4j.checkpoint.StateBuffers;
import org.ddpm4j.data.BatchLoader;
import org.ddpm4j.data.CifarLocator;
import org.ddpm4j.data.DataException;
import org.ddpm4j.data.DataSources;
import org.ddpm4j.data.DataSpec;
import org.ddpm4j.data.ImageSet;
import org.ddpm4j.data.LoadedData;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.image.ImageGrid;
import org.ddpm4j.image.LossPlot;
import org.ddpm4j.image.PngFiles;
import org.ddpm4j.model.StateSnapshot;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.sample.SampleOptions;
import org.ddpm4j.sample.SampleResult;
import org.ddpm4j.sample.Sampler;
import org.ddpm4j.sample.SamplerKind;
import org.ddpm4j.setting.InvalidSettingException;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.setting.SettingText;
import org.ddpm4j.train.LossLog;
import org.ddpm4j.train.LossSink;
import org.ddpm4j.train.LossStats;
import org.ddpm4j.train.Progress;
import org.ddpm4j.train.StopSignal;
import org.ddpm4j.train.TimeBreakdown;
import org.ddpm4j.train.TimeBreakdown.Phase;
import org.ddpm4j.train.Trainer;
import org.ddpm4j.train.TrainingDivergedException;
import org.ddpm4j.train.TrainingHooks;
import org.ddpm4j.train.TrainingState;
import org.ddpm4j.train.TrainSettings;

/**
 * A training (or fine-tuning) run into an output folder: loads the data, builds or
 * restores the model, trains with checkpoints (written in the background, the last
 * {@code keep} kept), a loss log, periodic sample grids and a loss plot, stops cleanly
 * (with a checkpoint) when asked, and ends with a time breakdown and {@code run.json}.
 */
public final class TrainJob {
    /** Checkpoints kept in a run folder by default: the newest and the one before. */
    public static final int DEFAULT_KEEP = 2;
    /** Sample grids during training use the training seed plus this, so that {@code ddpm sample}'s default seed draws other images. */
    public static final long GRID_SEED_OFFSET = 1;

    /**
     * @param model model shape and schedule
     * @param settings hyper-parameters and cadences
     * @param data what to train on
     * @param cifar where to find (or fetch) CIFAR-10
     * @param outDir the run folder
     * @param resumeFrom the checkpoint to continue from when resuming, else null
     * @param force start over even if the folder holds a checkpoint
     * @param progress how to show progress
     * @param initial starting weights of a fine-tune (fresh Adam state), else null
     * @param finetunedFrom the base of a fine-tune, recorded in the checkpoint, else null
     * @param keep checkpoints to keep in the folder, the newest included
     * @param resumeFile the file {@code resumeFrom} was read from (null: not the folder's model.ckpt)
     * @param memory the images of data whose source is {@link DataSpec#MEMORY}, at the model's shape, else null
     * @param listener told of the losses and of each epoch's end, on the training thread
     */
    public record Request(UNetConfig model, TrainSettings settings, DataSpec data, CifarLocator cifar, Path outDir,
                          Checkpoint resumeFrom, boolean force, Progress.Mode progress, ModelState initial,
                          String finetunedFrom, int keep, Path resumeFile, ImageSet memory, Listener listener) {
        public Request {
            if (keep < 1) throw Setting.KEEP.invalid("must be >= 1, got " + keep);
            if (listener == null) listener = Listener.NONE;
        }

        public Request(UNetConfig model, TrainSettings settings, DataSpec data, CifarLocator cifar, Path outDir,
                       Checkpoint resumeFrom, boolean force, Progress.Mode progress, ModelState initial, String finetunedFrom,
                       int keep, Path resumeFile) {
            this(model, settings, data, cifar, outDir, resumeFrom, force, progress, initial, finetunedFrom, keep, resumeFile,
                    null, Listener.NONE);
        }

        public Request(UNetConfig model, TrainSettings settings, DataSpec data, CifarLocator cifar, Path outDir,
                       Checkpoint resumeFrom, boolean force, Progress.Mode progress, ModelState initial, String finetunedFrom) {
            this(model, settings, data, cifar, outDir, resumeFrom, force, progress, initial, finetunedFrom, DEFAULT_KEEP, null);
        }
    }

    /** What a caller hears of a run while it trains, on the training thread. */
    public interface Listener {
        Listener NONE = new Listener() {};

        /** The losses of steps [firstStep, firstStep + losses.length), as they are read from the device. */
        default void losses(long firstStep, float[] losses) {}

        /** The same steps' gradient norms before clipping, in a run that clips (read with the losses, after them). */
        default void gradNorms(long firstStep, float[] norms) {}

        /**
         * Epoch {@code epoch} (1-based) ended with mean loss {@code meanLoss} (of its steps trained in this
         * invocation) after {@code seconds} of wall time (checkpoints included, sample grids not).
         */
        default void epochEnded(int epoch, double meanLoss, double seconds) {}
    }

    /**
     * @param end where the run stopped
     * @param stepsTrained steps trained by this invocation
     * @param seconds wall time of the training loop (with sampling and checkpoints)
     * @param firstLoss mean loss of the first steps of this invocation (up to 50, at most half of them)
     * @param lastLoss mean loss of as many last steps
     * @param window how many steps each of those means covers
     * @param grids sample grids written
     * @param times where the wall time went
     * @param steadyImagesPerSecond images/s of the steps after warm-up (training phase only)
     * @param steadyEpochImagesPerSecond images/s of the complete epochs after the invocation's first, over their
     *     wall time (checkpoints and loss reads included, sample grids not); NaN with fewer than two
     * @param endReason which limit ends the run ("the end of epoch 2 (--epochs 2, ...)", "--steps 300 ...") in the
     *     run's wording of settings
     * @param stopped true when a stop request (Ctrl-C) ended it early
     */
    public record Result(TrainingState end, long stepsTrained, double seconds, double firstLoss, double lastLoss,
                         int window, RunFiles files, List<Path> grids, TimeBreakdown times, double steadyImagesPerSecond,
                         double steadyEpochImagesPerSecond, String endReason, boolean stopped) {}

    /** How the lines a run prints (and run.json) name settings: the command line's flags unless told otherwise. */
    public static final Function<Setting, String> FLAGS = Setting::flag;

    /** A checkpoint to resume from and the file it was read from. */
    public record Resumable(Checkpoint checkpoint, Path file) {}

    private TrainJob() {}

    /**
     * The newest intact checkpoint of a run folder: model.ckpt, or when that cannot be read an older one
     * kept beside it (reported through {@code warn}).
     */
    public static Resumable findResumable(Path runDir, java.util.function.Consumer<String> warn) {
        CheckpointKeeper.Found f = CheckpointKeeper.readNewest(new RunFiles(runDir), warn);
        return new Resumable(f.checkpoint(), f.file());
    }

    public static Result run(Backend backend, Request req, PrintStream log) {
        return run(backend, req, log, new StopSignal(), System.nanoTime(), FLAGS);
    }

    /**
     * @param stop ends training after the current step (with a checkpoint) when requested
     * @param setupSinceNanos when the work leading to this run began (System.nanoTime()), for the time breakdown
     * @param names how the lines printed on {@code log}, the end reason and run.json name settings
     */
    public static Result run(Backend backend, Request req, PrintStream log, StopSignal stop, long setupSinceNanos,
                             Function<Setting, String> names) {
        RunFiles files = new RunFiles(req.outDir());
        boolean newTable = req.resumeFrom() == null && req.initial() == null;
        if (newTable && req.settings().timeTable() == TimeTable.NOTEBOOK && req.model().timesteps() % 2 != 0) {
            throw Setting.TIME_TABLE.invalid("notebook needs an even ", Setting.TIMESTEPS, " (got " + req.model().timesteps()
                    + "): for an odd T the notebook's function leaves raw angles up to T in the odd rows");
        }
        if (req.resumeFrom() == null && Files.exists(files.checkpoint()) && !req.force()) {
            throw new InvalidSettingException(Setting.OUT, SettingText.of(files.checkpoint() + " already exists; pass ",
                    Setting.RESUME, " to continue that run or ", Setting.FORCE, " to start over"));
        }
        OutputFolder folder = OutputFolder.prepare(req.outDir(), "the run folder");
        try (RunLock lock = RunLock.acquire(folder.dir())) {
            removeStaleTemporaries(files);  // only now: under another run's lock they would be its files in the writing
            return train(backend, req, log, stop, setupSinceNanos, files, names);
        } catch (RuntimeException | Error e) {
            folder.removeIfUnused();
            throw e;
        }
    }

    private static Result train(Backend backend, Request req, PrintStream log, StopSignal stop, long setupSince, RunFiles files,
                                Function<Setting, String> names) {
        UNetConfig cfg = req.model();
        TrainSettings s = req.settings();
        checkGridSampler(s, cfg.timesteps());
        LoadedData loaded = DataSources.load(req.data(), req.memory(), cfg.inChannels(), cfg.height(), cfg.width(), req.cifar(),
                log::println);
        int images = loaded.images().size();
        if (req.resumeFrom() != null && req.resumeFrom().meta().images() > 0 && req.resumeFrom().meta().images() != images) {
            throw new DataException("the data changed since the checkpoint: it trained on " + req.resumeFrom().meta().images()
                    + " images, " + loaded.spec().describe() + " now has " + images);
        }
        if (req.resumeFrom() == null && s.batch() > images) {
            log.println(SettingText.of("warning: ", Setting.BATCH, String.format(Locale.ROOT,
                    " %d is more than the %,d images; training with batches of %d", s.batch(), images, images)).render(names));
            s = s.withBatch(images);  // the same batches; the model's memory is sized for them
        }
        cfg = conditionalOn(cfg, loaded);
        // A decay without its end given ends at this run's last step, kept in its checkpoints (a resumed run's is set).
        s = s.withLrSchedule(s.lrSchedule().resolved(Trainer.finalStep(s, BatchLoader.batchesPerEpoch(images, s.batch()))));
        CheckpointMeta meta = new CheckpointMeta(cfg, s, loaded.spec(), images, req.finetunedFrom(),
                cfg.conditional() ? loaded.images().classNames() : null);
        TimeBreakdown times = new TimeBreakdown();
        try (UNet net = backend.createUNet(cfg, s.batch()); BackgroundWriter writer = new BackgroundWriter()) {
            TimeTable kind = prepare(net, req);
            prepareEma(net, s);
            TrainingState start = req.resumeFrom() != null ? req.resumeFrom().progress() : TrainingState.START;
            boolean resumedFromNewest = req.resumeFile() != null && files.checkpoint().toAbsolutePath().normalize()
                    .equals(req.resumeFile().toAbsolutePath().normalize());
            CheckpointKeeper keeper = new CheckpointKeeper(files, req.keep(), resumedFromNewest ? start.globalStep() : -1,
                    req.resumeFrom() == null);
            List<Path> grids = new ArrayList<>();
            Progress progress = Progress.create(req.progress(), log);
            LossStats epochLosses = new LossStats(0, BatchLoader.batchesPerEpoch(images, s.batch()));
            Hooks hooks = new Hooks(net, meta, kind, files, grids, progress, writer, keeper, req.listener(), epochLosses);
            Trainer trainer = new Trainer(net, loaded.images(), s, hooks, progress, times);
            long end = trainer.finalStep();
            log.printf(Locale.ROOT, "model: %s, %,d parameters, %s time table%s%s%n", Configs.describe(cfg), net.numParams(),
                    kind.label(), s.emaDecay() > 0 ? ", EMA decay " + s.emaDecay()
                            + (s.emaPower() > 0 ? " (warm-up power " + s.emaPower() + ")" : "") : ", no EMA",
                    cfg.conditional() ? ", label dropout " + s.condDrop() : "");
            log.printf(Locale.ROOT, "data: %s, %,d images%s; batch %d, %d steps per epoch, %d epochs%s, lr %s%n",
                    loaded.spec().describe(), images, loaded.spec().path() == null ? "" : " (" + loaded.spec().path() + ")",
                    s.batch(), trainer.batchesPerEpoch(), s.epochs(), s.maxSteps() > 0 ? ", stop at step " + s.maxSteps() : "",
                    s.adam().lrText() + (s.lrSchedule().isConstant() ? "" : " (" + s.lrSchedule().describe() + ")")
                            + (s.adam().describe().isEmpty() ? "" : ", " + s.adam().describe())
                            + (s.maxGradNorm() > 0 ? ", gradients clipped to norm " + s.maxGradNorm() : "")
                            + (s.snrGamma() > 0 ? ", Min-SNR-" + s.snrGamma() + " loss weighting" : ""));
            log.printf(Locale.ROOT, "backend: %s (%s, %d threads, %s), %.1f MiB; output: %s%n", backend.name(), backend.deviceName(),
                    backend.threads(), backend.precision().id(), net.backendBytes() / 1048576.0, req.outDir());
            if (start.globalStep() >= end) {
                log.println(SettingText.of("nothing to do: the run is at step " + start.globalStep() + " of " + end + " (raise ",
                        Setting.EPOCHS, " or ", Setting.STEPS, " to train further)").render(names));
                return new Result(start, 0, 0, Double.NaN, Double.NaN, 0, files, grids, times, Double.NaN, Double.NaN,
                        trainer.finalStepReason().render(names), false);
            }
            if (start.globalStep() > 0) log.printf(Locale.ROOT, "resuming at step %d (epoch %d, batch %d)%n", start.globalStep(), start.epoch() + 1, start.position());
            log.printf(Locale.ROOT, "training to step %d: %s%n", end, trainer.finalStepReason().render(names));
            FirstLast fl = new FirstLast((int) Math.max(1, Math.min(50, (end - start.globalStep()) / 2)));
            long t0 = System.nanoTime();
            times.add(Phase.SETUP, t0 - setupSince);
            TrainingState reached;
            long f0;
            final TrainSettings settings = s;
            try (LossLog lossLog = LossLog.open(files.lossLog(), start.globalStep(), trainer.batchesPerEpoch(),
                    s.lrSchedule().isConstant() ? null : step -> settings.adamAt(step).lr())) {
                Listener listener = req.listener();
                trainer.addLossSink(lossLog).addLossSink(fl).addLossSink(epochLosses).addLossSink(new LossSink() {
                    @Override
                    public void accept(long first, float[] losses) {
                        listener.losses(first, losses);
                    }

                    @Override
                    public void accept(long first, float[] losses, float[] gradNorms) {
                        listener.losses(first, losses);
                        if (gradNorms != null) listener.gradNorms(first, gradNorms);
                    }
                });
                reached = trainer.run(start, stop);
                f0 = System.nanoTime();
                writer.awaitIdle();  // the last checkpoint is on disk (or its failure is thrown) before anything is reported
            } catch (TrainingDivergedException e) {
                throw diverged(e, writer, keeper, files);
            }
            times.addBackgroundWrite(writer.busyNanos());
            writeLossPlot(files, cfg, log::println);
            times.add(Phase.FINISH, System.nanoTime() - f0);
            double seconds = (System.nanoTime() - t0) / 1e9;
            boolean stopped = stop.requested() && reached.globalStep() < end;
            Result r = new Result(reached, reached.globalStep() - start.globalStep(), seconds, fl.first(), fl.last(), fl.n,
                    files, grids, times, trainer.steadyImagesPerSecond(), trainer.steadyEpochImagesPerSecond(),
                    trainer.finalStepReason().render(names), stopped);
            writeRunJson(files, r, req, meta, kind, backend, net.numParams(), loaded, start, log::println);
            log.println(times.line());
            if (stopped) {
                log.println(SettingText.of("stopped at step " + reached.globalStep() + "; resume with ", Setting.RESUME).render(names));
            }
            return r;
        }
    }

    /** The grid sampler's steps against the model, before any training (a grid comes only at an epoch's end). */
    private static void checkGridSampler(TrainSettings s, int T) {
        SamplerKind kind = s.gridSampler();
        int steps = s.gridSteps();
        if (steps == 0) return;
        if (kind == SamplerKind.DDPM && steps != T) {
            throw Setting.GRID_STEPS.invalid("with ", Setting.GRID_SAMPLER, " ddpm must be " + T + " (every timestep) or unset, got " + steps);
        }
        if (steps > kind.maxSteps(T)) {
            throw Setting.GRID_STEPS.invalid("must be in [1, " + kind.maxSteps(T) + "] for " + kind.label() + " (the model has "
                    + T + " timesteps), got " + steps);
        }
    }

    /** The divergence error, saying which checkpoint is still good; waits for the good ones being written. */
    private static TrainingDivergedException diverged(TrainingDivergedException e, BackgroundWriter writer,
                                                      CheckpointKeeper keeper, RunFiles files) {
        try {
            writer.awaitIdle();
        } catch (RuntimeException other) {
            e.addSuppressed(other);
        }
        String kept = keeper.stepOnDisk() >= 0
                ? files.checkpoint() + " keeps step " + keeper.stepOnDisk() + " (written before the divergence)"
                : "no checkpoint was written by this run";
        TrainingDivergedException out = e.settingText() != null
                ? new TrainingDivergedException(e.step(), e.settingText().then("; " + kept))
                : new TrainingDivergedException(e.step(), e.getMessage() + "; " + kept);
        out.addSuppressed(e);
        return out;
    }

    /** Files a killed run may have left half-written ({@code X.tmp} beside X); none is ever needed. */
    private static void removeStaleTemporaries(RunFiles files) {
        for (Path dir : new Path[] {files.dir(), files.samplesDir()}) {
            if (!Files.isDirectory(dir)) continue;
            try (var s = Files.newDirectoryStream(dir, "*.tmp")) {
                for (Path p : s) Files.deleteIfExists(p);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot clean up " + dir + ": " + e.getMessage(), e);
            }
        }
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
        if (s.emaPower() > 0) net.setEmaPower(s.emaPower());
        if (net.config().conditional()) net.setCondDrop(s.condDrop());
        if (s.maxGradNorm() > 0) net.setMaxGradNorm(s.maxGradNorm());
        if (s.snrGamma() > 0) net.setSnrGamma(s.snrGamma());
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
     * Writes loss.png from the loss log. A chart must never end a run: a failure (a full disk,
     * an unreadable log) is reported through {@code warn}.
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

    /** run.json: what ran, on what, how it ended and where the time went (for scripts). A failure only warns. */
    private static void writeRunJson(RunFiles files, Result r, Request req, CheckpointMeta meta, TimeTable kind,
                                     Backend backend, long params, LoadedData loaded, TrainingState start,
                                     java.util.function.Consumer<String> warn) {
        JsonObject o = new JsonObject();
        o.addProperty("kind", req.finetunedFrom() != null ? "finetune" : "train");
        o.addProperty("status", r.stopped() ? "stopped" : "finished");
        o.add("model", Configs.toJson(meta.model()));
        o.addProperty("time_table", kind.label());
        o.addProperty("parameters", params);
        JsonObject config = meta.toJson(kind);
        o.add("training", config.get("training"));
        o.add("data", config.get("data"));
        if (req.finetunedFrom() != null) o.addProperty("finetuned_from", req.finetunedFrom());
        JsonObject device = new JsonObject();
        device.addProperty("backend", backend.name());
        device.addProperty("name", backend.deviceName());
        device.addProperty("threads", backend.threads());
        device.addProperty("precision", backend.precision().id());
        o.add("device", device);
        JsonObject steps = new JsonObject();
        steps.addProperty("start", start.globalStep());
        steps.addProperty("end", r.end().globalStep());
        steps.addProperty("trained", r.stepsTrained());
        steps.addProperty("epoch", r.end().epoch());
        steps.addProperty("position", r.end().position());
        steps.addProperty("end_reason", r.stopped() ? "stop requested (Ctrl-C)" : r.endReason());
        o.add("steps", steps);
        JsonObject loss = new JsonObject();
        loss.addProperty("first_mean", finite(r.firstLoss()));
        loss.addProperty("last_mean", finite(r.lastLoss()));
        loss.addProperty("window", r.window());
        o.add("loss", loss);
        JsonObject speed = new JsonObject();
        speed.addProperty("steady_images_per_s", finite(r.steadyImagesPerSecond()));
        speed.addProperty("steady_epoch_images_per_s", finite(r.steadyEpochImagesPerSecond()));
        double wall = r.times().totalSeconds();
        speed.addProperty("overall_images_per_s", wall > 0 ? Math.round(10 * r.stepsTrained() * (double) meta.training().batch() / wall) / 10.0 : null);
        o.add("throughput", speed);
        o.add("time", r.times().toJson());
        JsonObject out = new JsonObject();
        out.addProperty("checkpoint", files.checkpoint().toString());
        out.addProperty("loss_log", files.lossLog().toString());
        out.addProperty("loss_plot", files.lossPlot().toString());
        JsonArray g = new JsonArray();
        for (Path p : r.grids()) g.add(p.toString());
        out.add("grids", g);
        o.add("files", out);
        byte[] json = (new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues().create().toJson(o) + "\n")
                .getBytes(StandardCharsets.UTF_8);
        try {
            AtomicFiles.write(files.runJson(), ch -> {
                ByteBuffer b = ByteBuffer.wrap(json);
                while (b.hasRemaining()) ch.write(b);
            });
        } catch (IOException e) {
            warn.accept("warning: could not write " + files.runJson() + ": " + e.getMessage());
        }
    }

    private static Double finite(double v) {
        return Double.isFinite(v) ? v : null;
    }

    /** Checkpoints (snapshot now, written in the background), the loss plot and periodic sample grids. */
    private static final class Hooks implements TrainingHooks {
        private final UNet net;
        private final CheckpointMeta meta;
        private final TimeTable kind;
        private final RunFiles files;
        private final List<Path> grids;
        private final Progress progress;
        private final BackgroundWriter writer;
        private final CheckpointKeeper keeper;
        private final AtomicBoolean plotQueued = new AtomicBoolean();
        private final Listener listener;
        private final LossStats epochLosses;
        private long epochStart = System.nanoTime();
        private StateSnapshot snapshot;
        private java.util.concurrent.Future<?> lastCheckpoint;

        Hooks(UNet net, CheckpointMeta meta, TimeTable kind, RunFiles files, List<Path> grids, Progress progress,
              BackgroundWriter writer, CheckpointKeeper keeper, Listener listener, LossStats epochLosses) {
            this.listener = listener;
            this.epochLosses = epochLosses;
            this.net = net;
            this.meta = meta;
            this.kind = kind;
            this.files = files;
            this.grids = grids;
            this.progress = progress;
            this.writer = writer;
            this.keeper = keeper;
        }

        /**
         * Starts copying the model off the device into host memory reused from checkpoint to checkpoint
         * (pinned on CUDA: the copy runs in the device's stream order while the next steps are queued behind
         * it), once the previous write has finished with that memory; the writer thread waits for the copy,
         * checks it and writes it while training goes on.
         */
        @Override
        public void checkpoint(TrainingState state) {
            writer.awaitIdle();
            if (snapshot == null) snapshot = net.newSnapshot();
            net.snapshotBegin(snapshot);
            StateSnapshot snap = snapshot;
            lastCheckpoint = writer.submit(() -> {
                snap.await();
                StateBuffers st = new StateBuffers(snap.params(), snap.buffers(), snap.adam(), snap.emaParams(),
                        snap.emaBuffers(), snap.timeTable(), snap.adamStep(), snap.bnBatches());
                requireFinite(st, state, meta);
                keeper.write(meta, kind, state, st);
            });
        }

        /** A model whose weights went NaN or infinite is not worth a checkpoint: it would replace a good one. */
        private static void requireFinite(StateBuffers st, TrainingState state, CheckpointMeta meta) {
            String where = st.firstNonFinite();
            if (where != null) {
                long step = state.globalStep();
                throw new TrainingDivergedException(step - 1, SettingText.of("training diverged: after step " + (step - 1) + " "
                        + where + " is not finite, so no checkpoint was written for it; try a smaller ", Setting.LR,
                        " than " + meta.training().adam().lrText()));
            }
        }

        @Override
        public boolean checkpointPending() {
            return lastCheckpoint != null && !lastCheckpoint.isDone();
        }

        @Override
        public void epochEnded(int epoch, TrainingState state, StopSignal stop) {
            // The trainer reads every loss of the epoch before this call, so its mean is complete.
            listener.epochEnded(epoch + 1, epochLosses.epochMean(), (System.nanoTime() - epochStart) / 1e9);
            try {
                endEpoch(epoch, stop);
            } finally {
                epochStart = System.nanoTime();  // the next epoch's time leaves this one's grid out
            }
        }

        private void endEpoch(int epoch, StopSignal stop) {
            writer.rethrowFailures();
            if (plotQueued.compareAndSet(false, true)) {
                writer.submit(() -> {
                    plotQueued.set(false);
                    writeLossPlot(files, meta.model(), progress::message);
                });
            }
            int every = meta.training().sampleEvery();
            int done = epoch + 1;
            boolean last = done >= meta.training().epochs();
            if (every <= 0 || (done % every != 0 && !last) || stop.requested()) return;
            Path out = files.epochGrid(done);
            long t0 = System.nanoTime();
            int T = meta.model().timesteps();
            SampleOptions o = new SampleOptions(100, meta.training().seed() + GRID_SEED_OFFSET, -1, 0, 2)
                    .withSampler(meta.training().gridSampler(), meta.training().gridSteps(), 0.0, false)
                    .withKarras(meta.training().gridKarras());
            progress.message(String.format(Locale.ROOT, "epoch %d: sampling a grid of 100 images (%s, %d steps each%s) for %s",
                    done, meta.training().gridSampler().label(), Sampler.timesteps(o, T).length,
                    meta.training().gridKarras() ? ", Karras sigmas" : "", out));
            long[] lastShown = {t0};
            SampleResult r;
            // Grids show what sampling will use: the EMA weights when there are some.
            if (net.hasEma()) net.swapEma();
            try {
                r = Sampler.run(net, o, (d, total) -> {
                    long now = System.nanoTime();
                    if (now - lastShown[0] < 10_000_000_000L) return;
                    lastShown[0] = now;
                    double el = (now - t0) / 1e9;
                    progress.message(String.format(Locale.ROOT, "  sample grid: %.0f%% (%s, eta %s)", 100.0 * d / total,
                            Progress.duration(el), Progress.duration(el * (total - d) / Math.max(1, d))));
                }, null, o.count(), stop::requested);
            } catch (CancellationException e) {
                progress.message("sample grid abandoned: stop requested");
                return;
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
