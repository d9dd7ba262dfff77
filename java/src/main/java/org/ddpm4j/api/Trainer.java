package org.ddpm4j.api;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.checkpoint.Checkpoint;
import org.ddpm4j.checkpoint.CheckpointMeta;
import org.ddpm4j.data.DataSpec;
import org.ddpm4j.data.Split;
import org.ddpm4j.diffusion.NoiseSchedule;
import org.ddpm4j.diffusion.Prediction;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.job.RunFiles;
import org.ddpm4j.job.TrainJob;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.optim.LrSchedule;
import org.ddpm4j.optim.Optimizer;
import org.ddpm4j.sample.SamplerKind;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.setting.SettingText;
import org.ddpm4j.train.Benchmark;
import org.ddpm4j.train.Preset;
import org.ddpm4j.train.Progress;
import org.ddpm4j.train.StopSignal;
import org.ddpm4j.train.TimeBreakdown;
import org.ddpm4j.train.TrainSettings;

/**
 * Trains a model into a run folder, as {@code ddpm train} and {@code ddpm finetune} do: checkpoints
 * (written in the background, the last {@link #keep} kept), loss.jsonl, loss.png, sample grids and
 * run.json; a stop request ends the run after the current step with a checkpoint, and a resumed run
 * continues exactly where it stopped.
 *
 * <pre>{@code
 * TrainingResult r = Trainer.newModel(Preset.TINY)
 *         .data(TrainingData.images(myPictures))
 *         .outputDir(Path.of("runs/mine"))
 *         .epochs(5)
 *         .listener(new TrainingListener() {
 *             public void epochEnded(int epoch, double meanLoss, double seconds) { System.out.println(epoch + ": " + meanLoss); }
 *         })
 *         .train();
 * }</pre>
 *
 * <p>Three starts: {@link #newModel} (a preset's model and settings, any value overridden),
 * {@link #fineTune} (a copy of a trained model, the notebook's fine-tuning settings: lr 3e-4, 10
 * epochs, a fresh optimiser; the base file is only read) and {@link #resume} (a run folder's newest
 * intact checkpoint). The settings are named as the command line's flags, and so are they in messages.
 * On a resumed run a setting given with the run's own value is accepted, and one with another value
 * is refused (an {@link InvalidInputException} naming each and both values) — only the length
 * ({@link #epochs}, {@link #steps}), {@link #keep} and the cadences may change.
 *
 * <p>Configure from one thread, then call {@link #train} once; {@link #requestStop} may be called from any
 * thread (a listener, a shutdown hook) at any time. The device and the model's native memory are held only
 * while {@link #train} runs, and released when it returns or throws.
 */
public final class Trainer {
    private enum Start { NEW, FINETUNE, RESUME }

    private final Start start;
    private final Path from;                 // the fine-tune base file, or the run folder to resume
    private final ModelChoice model = new ModelChoice();
    private final SettingsChoice settings = new SettingsChoice();
    private final StopSignal stop = new StopSignal();
    private LoadOptions baseOptions;
    private Path expectedBase;
    private TrainingData data;
    private Path outDir;
    private boolean force;
    private int keep = TrainJob.DEFAULT_KEEP;
    private Progress.Mode progress = Progress.Mode.NONE;
    private Compute compute = Compute.auto();
    private TrainingListener listener;
    private PrintStream log = System.err;
    private Function<Setting, String> settingNames = Setting::javaName;
    private Long setupSince;
    private boolean trained;

    private Trainer(Start start, Path from) {
        this.start = start;
        this.from = from;
    }

    /** A new model of the tiny preset (base width 16, depth 2: trains on a CPU), with its settings. */
    public static Trainer newModel() {
        return newModel(Preset.TINY);
    }

    /** A new model of {@code preset} (seed: the notebook's, a GPU job; tiny), with its settings. */
    public static Trainer newModel(Preset preset) {
        Trainer t = new Trainer(Start.NEW, null);
        t.model.preset = preset;
        return t;
    }

    /** Fine-tunes a copy of the model in {@code base} (a checkpoint or a safetensors file), its EMA weights when it keeps some. */
    public static Trainer fineTune(Path base) {
        return fineTune(base, LoadOptions.defaults());
    }

    /** Fine-tunes a copy of the model in {@code base}, read as {@code options} say. */
    public static Trainer fineTune(Path base, LoadOptions options) {
        if (base == null || options == null) throw new InvalidInputException("fineTune: the base file and options must not be null");
        Trainer t = new Trainer(Start.FINETUNE, base);
        t.baseOptions = options;
        return t;
    }

    /** Continues the run in {@code runDir} from its newest checkpoint that reads back intact. */
    public static Trainer resume(Path runDir) {
        if (runDir == null) throw new InvalidInputException("resume: the run folder must not be null");
        Trainer t = new Trainer(Start.RESUME, runDir);
        t.outDir = runDir;
        return t;
    }

    // ---- the model (new runs; compared on a resume) ----------------------------------------------

    public Trainer preset(Preset p) {
        return set(() -> model.preset = p);
    }

    /** A whole model configuration in place of the preset's model (its training settings stay the preset's). */
    public Trainer model(UNetConfig config) {
        return set(() -> model.whole = config);
    }

    public Trainer baseWidth(int channels) {
        return set(() -> model.baseWidth = channels);
    }

    public Trainer depth(int d) {
        return set(() -> model.depth = d);
    }

    /** Image height and width. */
    public Trainer imageSize(int px) {
        return set(() -> model.imageSize = px);
    }

    /** 3 (RGB) or 1 (grey). */
    public Trainer channels(int c) {
        return set(() -> model.channels = c);
    }

    public Trainer timeDim(int d) {
        return set(() -> model.timeDim = d);
    }

    /** Diffusion steps T. */
    public Trainer timesteps(int t) {
        return set(() -> model.timesteps = t);
    }

    /** The linear schedule's first beta. */
    public Trainer betaStart(float beta) {
        return set(() -> model.betaStart = beta);
    }

    /** The linear schedule's last beta. */
    public Trainer betaEnd(float beta) {
        return set(() -> model.betaEnd = beta);
    }

    public Trainer schedule(NoiseSchedule s) {
        return set(() -> model.schedule = s);
    }

    /**
     * What a new model learns to predict: EPSILON, the noise (the default, the notebook's), or V, v = sqrt(alpha_bar)
     * eps - sqrt(1 - alpha_bar) x_0 (Salimans &amp; Ho 2022); the samplers convert, so sampling is the same call.
     */
    public Trainer prediction(Prediction p) {
        return set(() -> model.prediction = p);
    }

    /** A class-conditional model (on as many classes as the data has; labels dropped with {@link #condDrop}), or not. */
    public Trainer conditional(boolean on) {
        return set(() -> model.conditional = on);
    }

    // ---- training settings ------------------------------------------------------------------------

    public Trainer batch(int images) {
        return set(() -> settings.batch = images);
    }

    /** Adam's learning rate. */
    public Trainer lr(double rate) {
        return set(() -> settings.lr = rate);
    }

    /**
     * ADAM (the default, the notebook's: torch.optim.Adam, a weight decay added to the gradient as L2) or ADAMW
     * (torch.optim.AdamW, the weights shrunk by lr x weight decay apart from the gradient; diffusers' training scripts
     * use it with betas 0.95/0.999 and weight decay 1e-6).
     */
    public Trainer optimizer(Optimizer kind) {
        return set(() -> settings.optimizer = kind);
    }

    /** Adam's beta1, the first moment's decay (default 0.9, torch's). */
    public Trainer adamBeta1(double beta1) {
        return set(() -> settings.adamBeta1 = beta1);
    }

    /** Adam's beta2, the second moment's decay (default 0.999, torch's). */
    public Trainer adamBeta2(double beta2) {
        return set(() -> settings.adamBeta2 = beta2);
    }

    /** Adam's epsilon (default 1e-8, torch's). */
    public Trainer adamEps(double eps) {
        return set(() -> settings.adamEps = eps);
    }

    /** The weight decay (default 0): L2 in the gradient for ADAM, decoupled for ADAMW (see {@link #optimizer}). */
    public Trainer weightDecay(double decay) {
        return set(() -> settings.weightDecay = decay);
    }

    /** Epochs to train; the run ends with the last (or at {@link #steps}). */
    public Trainer epochs(int n) {
        return set(() -> settings.epochs = n);
    }

    /** Stop when the global step reaches {@code globalStep} (0 = no limit). */
    public Trainer steps(long globalStep) {
        return set(() -> settings.steps = globalStep);
    }

    /** Random horizontal flips. */
    public Trainer flip(boolean on) {
        return set(() -> settings.flip = on);
    }

    /** Seeds the initialisation, the data order, the flips, t and the noise. */
    public Trainer seed(long s) {
        return set(() -> settings.seed = s);
    }

    /** The time-embedding table of a new model: STANDARD or NOTEBOOK (a fine-tune keeps its base's). */
    public Trainer timeTable(TimeTable t) {
        return set(() -> settings.timeTable = t);
    }

    /**
     * The learning rate after the warm-up: CONSTANT (the default, the notebook's), or a COSINE or LINEAR decay to 0
     * at the run's last step (as Hugging Face's training scripts; the decay spans the run as {@link #epochs} and
     * {@link #steps} set it).
     */
    public Trainer lrSchedule(LrSchedule.Kind kind) {
        return set(() -> settings.lrSchedule = kind);
    }

    /** Raise the learning rate linearly from 0 over the first {@code steps} steps (0 = none, the default). */
    public Trainer lrWarmup(long steps) {
        return set(() -> settings.lrWarmup = steps);
    }

    /**
     * Weight each sample's loss gradient by Min-SNR-gamma (Hang et al. 2023), min(snr_t, gamma) / snr_t, as diffusers'
     * {@code --snr_gamma} (5 is the paper's); the losses reported stay the plain MSE. 0 = off, the default.
     */
    public Trainer snrGamma(double gamma) {
        return set(() -> settings.snrGamma = gamma);
    }

    /** Clip the gradients to this global norm before each Adam step, as torch's clip_grad_norm_ (0 = off, the default). */
    public Trainer maxGradNorm(double maxNorm) {
        return set(() -> settings.maxGradNorm = maxNorm);
    }

    /** The global step where a cosine or linear decay reaches 0 (default 0: the run's last step when it starts). */
    public Trainer lrDecaySteps(long step) {
        return set(() -> settings.lrDecaySteps = step);
    }

    /**
     * The EMA's warm-up: 0 (the default), min(decay, (1 + u) / (10 + u)); a power P &gt; 0, diffusers' use_ema_warmup
     * min(decay, 1 - (1 + u)^-P) (its training scripts use 0.75).
     */
    public Trainer emaPower(double power) {
        return set(() -> settings.emaPower = power);
    }

    /** Decay of the EMA of the weights (0 = none), warmed up as min(decay, (1 + u) / (10 + u)). */
    public Trainer emaDecay(double decay) {
        return set(() -> settings.emaDecay = decay);
    }

    /** Conditional models: the probability that a training label is dropped to the null class. */
    public Trainer condDrop(double p) {
        return set(() -> settings.condDrop = p);
    }

    /**
     * How the in-training sample grids are drawn: DDPM (the default, the notebook's 1,000 steps) or another sampler in
     * {@code steps} steps (0: its default; DPM_SOLVER_SDE in 20 keeps DDPM's look at 1/50 of the cost).
     */
    public Trainer gridSampler(SamplerKind kind, int steps) {
        return set(() -> {
            settings.gridSampler = kind;
            settings.gridSteps = steps;
        });
    }

    /** Draw the in-training grids' DPM-Solver++ steps between Karras sigmas (as {@code ddpm sample --karras}). */
    public Trainer gridKarras(boolean on) {
        return set(() -> settings.gridKarras = on);
    }

    /** A 10x10 sample grid every {@code epochs} epochs and after the last; 0 = never. */
    public Trainer sampleEvery(int epochs) {
        return set(() -> settings.sampleEvery = epochs);
    }

    /** A checkpoint every {@code epochs} epochs (always one at the end). */
    public Trainer checkpointEvery(int epochs) {
        return set(() -> settings.checkpointEvery = epochs);
    }

    /** Also a checkpoint after {@code minutes} without one; 0 = off. */
    public Trainer checkpointMinutes(double minutes) {
        return set(() -> settings.checkpointMinutes = minutes);
    }

    /** Read the losses from the device at least every {@code steps} steps (the listener hears them then). */
    public Trainer logEvery(int steps) {
        return set(() -> settings.logEvery = steps);
    }

    // ---- data, output, device -----------------------------------------------------------------------

    /** What to train on (default: CIFAR-10 for a new model, the recorded data for a fine-tune or a resume). */
    public Trainer data(TrainingData d) {
        return set(() -> this.data = d);
    }

    /** The run folder (created; a resumed run's is its own). */
    public Trainer outputDir(Path dir) {
        return set(() -> this.outDir = dir);
    }

    /** Start over in a run folder that already holds a checkpoint (dropping that run's older checkpoints). */
    public Trainer force(boolean startOver) {
        return set(() -> this.force = startOver);
    }

    /** Checkpoints to keep in the run folder: model.ckpt and {@code n - 1} older ones (default 2). */
    public Trainer keep(int n) {
        return set(() -> this.keep = n);
    }

    /** Where to run (default {@link Compute#auto()}). */
    public Trainer compute(Compute c) {
        return set(() -> this.compute = c);
    }

    /** A progress bar or plain lines on the log (default NONE: a program has the listener). */
    public Trainer progress(Progress.Mode mode) {
        return set(() -> this.progress = mode);
    }

    /** Where the run says what it does (the model, the data, warnings, the time breakdown); default System.err. */
    public Trainer log(PrintStream out) {
        return log(out, Setting::javaName);
    }

    /**
     * Lines to {@code out}, naming settings with {@code settingNames} (e.g. {@link Setting#flag} for a command
     * line); also the wording of {@link TrainingResult#endReason} and run.json.
     */
    public Trainer log(PrintStream out, Function<Setting, String> settingNames) {
        return set(() -> {
            this.log = out;
            this.settingNames = settingNames;
        });
    }

    public Trainer listener(TrainingListener l) {
        return set(() -> this.listener = l);
    }

    /**
     * A resumed run must be a fine-tune of {@code base} (null: of any base) read with {@code options} (null: not
     * checked): checked against what it recorded; a resumed fine-tune keeps its own weights, so options choosing
     * EMA or raw ones are refused.
     */
    public Trainer fineTunedFrom(Path base, LoadOptions options) {
        expectedBase = base;
        baseOptions = options;
        return this;
    }

    /**
     * When the work leading to the run began (a {@link System#nanoTime} value): the time breakdown's setup phase
     * counts from there (default: the call to {@link #train}).
     */
    public Trainer setupSince(long nanoTime) {
        return set(() -> this.setupSince = nanoTime);
    }

    /** Runs a setter's assignment; returns this trainer, for chaining. */
    private Trainer set(Runnable assignment) {
        assignment.run();
        return this;
    }

    /** Ends the run after its current step (with a checkpoint); thread-safe, at any time, also before {@link #train}. */
    public void requestStop() {
        stop.request();
    }

    /**
     * Trains, blocking until the run ends: at its last epoch or step, on a stop request, or by an exception
     * (after which the checkpoints written so far stay, and a failure before the first leaves no folder behind).
     *
     * @throws InvalidInputException bad settings, data or files, or a resume that would change the run
     * @throws DeviceUnavailableException the device cannot run here
     * @throws DivergedException the loss or the weights went non-finite (no checkpoint of the diverged model is written)
     */
    public TrainingResult train() {
        synchronized (this) {
            if (trained) throw new IllegalStateException("a Trainer trains once; make another for another run");
            trained = true;
        }
        long since = setupSince != null ? setupSince : System.nanoTime();
        return Errors.call(() -> {
            TrainJob.Request req = switch (start) {
                case NEW -> newRun();
                case FINETUNE -> fineTuneRun();
                case RESUME -> resumedRun();
            };
            try (Backend be = compute.open()) {
                return result(TrainJob.run(be, req, log, stop, since, settingNames));
            }
        });
    }

    /**
     * Times {@code iters} training steps and sampling steps of this new model's setup (its model, batch, time table,
     * seed and compute) on random images, after {@code warmup} untimed ones of each; trains nothing and writes
     * nothing.
     */
    public BenchmarkResult benchmark(int warmup, int iters) {
        if (start != Start.NEW) throw new InvalidInputException("benchmark times a new model's setup (Trainer.newModel)");
        return Errors.call(() -> {
            Preset preset = model.presetOr(Preset.TINY);
            UNetConfig cfg = model.resolve(Preset.TINY);
            if (cfg.conditional()) throw Errors.invalid(Setting.CONDITIONAL, "is for training: bench times unconditional models");
            TrainSettings s = settings.apply(preset.settings());
            try (Backend be = compute.open(); UNet net = be.createUNet(cfg, s.batch())) {
                net.init(s.seed());
                if (s.timeTable() == TimeTable.NOTEBOOK) net.setTimeTable(TimeTable.notebook(cfg.timesteps(), cfg.timeDim()));
                Benchmark.Result r = Benchmark.run(net, s.batch(), warmup, iters, s.seed());
                return new BenchmarkResult(be.name(), be.deviceName(), be.precision().id(), be.threads(), s.batch(), cfg,
                        r.trainImagesPerSecond(), r.forwardImagesPerSecond(), r.peakMemoryBytes());
            }
        });
    }

    private TrainJob.Request newRun() {
        if (expectedBase != null) throw new InvalidInputException("a new model is not a fine-tune: use Trainer.fineTune(base)");
        Preset preset = model.presetOr(Preset.TINY);
        UNetConfig cfg = model.resolve(Preset.TINY);
        TrainSettings s = settings.apply(preset.settings());
        if (model.customised()) s = s.withPreset(preset.label() + "+custom");
        TrainingData d = data != null ? data : TrainingData.cifar10();
        DataSpec spec = d.spec();
        return new TrainJob.Request(cfg, s, spec, d.locator(), requireOut(), null, force, progress, null, null, keep, null,
                d.memory(cfg), listener());
    }

    private TrainJob.Request fineTuneRun() {
        if (expectedBase != null) throw new InvalidInputException("fineTunedFrom checks a resumed run; a new fine-tune's base is fineTune(base)");
        if (settings.timeTable != null) {
            throw Errors.invalid(Setting.TIME_TABLE, "does not apply to finetune: a fine-tune keeps the time table "
                    + "its base model was trained with (it is part of the weights)");
        }
        if (!model.given().isEmpty()) {
            throw new InvalidInputException(Errors.join(model.given()).then(": a fine-tune keeps its base model's shape and schedule"), null);
        }
        Path dir = requireOut();
        if (sameFile(new RunFiles(dir).checkpoint(), from)) {
            throw Errors.invalid(Setting.OUT, "would overwrite the base model " + from + "; choose another folder");
        }
        try (DiffusionModel base = DiffusionModel.load(from, compute, baseOptions)) {
            UNetConfig cfg = base.info().config();
            Checkpoint c = base.checkpoint();
            TrainSettings baseSettings = c != null ? c.meta().training() : Preset.SEED.settings().withPreset("imported");
            DataSpec baseData = c != null ? c.meta().data().withLimit(0) : DataSpec.cifar(null, Split.TRAIN);
            TrainSettings s = settings.apply(baseSettings.withLr(Preset.FINETUNE_LR).withEpochs(Preset.FINETUNE_EPOCHS)
                    .withMaxSteps(0).withLrSchedule(LrSchedule.CONSTANT));
            TrainingData d = data != null ? data : TrainingData.recorded();
            return new TrainJob.Request(cfg, s, d.resolve(baseData), d.locator(), dir, null, force, progress, base.weights(),
                    from.toAbsolutePath().normalize().toString(), keep, null, d.memory(cfg), listener());
        }
    }

    private TrainJob.Request resumedRun() {
        if (force) throw Errors.invalid(Setting.RESUME, "and ", Setting.FORCE, " contradict each other");
        if (!outDir.equals(from)) throw new InvalidInputException("a resumed run stays in its folder " + from + ", not " + outDir);
        TrainJob.Resumable found = TrainJob.findResumable(from, log::println);
        Checkpoint ck = found.checkpoint();
        CheckpointMeta meta = ck.meta();
        List<SettingText> changed = new ArrayList<>(baseChanges(meta));
        changed.addAll(model.changedFrom(meta.model(), meta.training().preset()));
        changed.addAll(settings.changedFrom(meta.training()));
        if (data != null) changed.addAll(data.changedFrom(meta.data()));
        if (!changed.isEmpty()) {
            throw new InvalidInputException(Errors.join(changed).then(": a resumed run keeps its checkpoint's settings (only ",
                    Setting.EPOCHS, ", ", Setting.STEPS, " and the cadences can change; start a new run with ", Setting.FORCE,
                    " or another ", Setting.OUT, ")"), null);
        }
        if (meta.data().source().equals(DataSpec.MEMORY) && (data == null || !data.inMemory())) {
            throw new InvalidInputException(from + " trained on images a program held in memory (through the Java API): "
                    + "resume it from Java with the same images, Trainer.resume(dir).data(TrainingData.images(...))");
        }
        TrainingData d = data != null ? data : TrainingData.recorded();
        return new TrainJob.Request(meta.model(), settings.apply(meta.training()), d.resolve(meta.data()), d.locator(), from, ck,
                false, progress, null, meta.finetunedFrom(), keep, found.file(), d.memory(meta.model()), listener());
    }

    /** What {@link #fineTunedFrom} says that the resumed run's record contradicts. */
    private List<SettingText> baseChanges(CheckpointMeta meta) {
        List<SettingText> out = new ArrayList<>();
        String base = meta.finetunedFrom();
        if (expectedBase != null && (base == null || !expectedBase.toAbsolutePath().normalize().toString().equals(base))) {
            out.add(Changes.of(Setting.FROM, expectedBase, base == null ? "no base model" : base));
        }
        if (baseOptions == null) return out;
        if (baseOptions.weights() != null) out.add(SettingText.of(Setting.WEIGHTS, " " + baseOptions.weights().label() + " (a resumed fine-tune keeps its own weights)"));
        UNetConfig c = meta.model();
        Integer px = baseOptions.imageSize();
        if (px != null && (px != c.height() || px != c.width())) out.add(Changes.of(Setting.IMAGE_SIZE, px, c.height()));
        Changes.add(out, Setting.BETA_START, baseOptions.betaStart(), c.betaStart());
        Changes.add(out, Setting.BETA_END, baseOptions.betaEnd(), c.betaEnd());
        return out;
    }

    private Path requireOut() {
        if (outDir == null) throw new InvalidInputException("the Trainer needs a run folder: outputDir(dir)");
        return outDir;
    }

    private TrainJob.Listener listener() {
        TrainingListener l = listener;
        if (l == null) return TrainJob.Listener.NONE;
        return new TrainJob.Listener() {
            @Override
            public void losses(long firstStep, float[] losses) {
                l.losses(firstStep, losses.clone());
            }

            @Override
            public void gradNorms(long firstStep, float[] norms) {
                l.gradNorms(firstStep, norms.clone());
            }

            @Override
            public void epochEnded(int epoch, double meanLoss, double seconds) {
                l.epochEnded(epoch, meanLoss, seconds);
            }
        };
    }

    private static TrainingResult result(TrainJob.Result r) {
        TimeBreakdown t = r.times();
        Map<String, Double> times = new LinkedHashMap<>();
        for (TimeBreakdown.Phase p : TimeBreakdown.Phase.values()) times.put(p.label(), t.seconds(p));
        times.put("total", t.totalSeconds());
        times.put("background writes", t.backgroundWriteSeconds());
        RunFiles f = r.files();
        return new TrainingResult(r.end().globalStep(), r.end().epoch(), r.end().position(), r.stepsTrained(), r.stopped(),
                r.endReason(), r.firstLoss(), r.lastLoss(), r.window(), r.seconds(), times, t.line(), r.steadyImagesPerSecond(),
                r.steadyEpochImagesPerSecond(), f.checkpoint(), f.lossLog(), f.lossPlot(), f.runJson(), r.grids());
    }

    private static boolean sameFile(Path a, Path b) {
        try {
            return Files.exists(a) && Files.exists(b) && Files.isSameFile(a, b);
        } catch (IOException e) {
            return a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize());
        }
    }
}
