package org.ddpm4j.api;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.checkpoint.Checkpoint;
import org.ddpm4j.checkpoint.CheckpointFile;
import org.ddpm4j.checkpoint.CheckpointMeta;
import org.ddpm4j.checkpoint.ModelState;
import org.ddpm4j.checkpoint.OptimizerState;
import org.ddpm4j.data.DataSpec;
import org.ddpm4j.data.Split;
import org.ddpm4j.job.ModelFiles;
import org.ddpm4j.job.SampleJob;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.sample.SampleFormat;
import org.ddpm4j.sample.SampleOptions;
import org.ddpm4j.sample.Sampler;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.setting.SettingText;
import org.ddpm4j.train.Preset;
import org.ddpm4j.train.TrainingState;

/**
 * A trained model, read from a ddpm4j checkpoint or a seed-format safetensors file: draws images,
 * predicts the noise of noisy images (the eval forward pass), and writes its weights as safetensors
 * or as a checkpoint.
 *
 * <pre>{@code
 * try (DiffusionModel model = DiffusionModel.load(Path.of("runs/tiny/model.ckpt"))) {
 *     Samples s = model.sample(SampleRequest.of(16).withSeed(1));
 *     ImageIO.write(s.image(0), "png", new File("first.png"));
 * }
 * }</pre>
 *
 * <p>The weights are read into Java memory when loading, with no device involved; the device (see
 * {@link Compute}) is opened at the first sampling or forward pass and holds native memory (a model
 * sized for the largest batch asked) until {@link #close}. Thread-safe: calls are serialised on the
 * model, so one model serves one call at a time; open one model per thread to work in parallel.
 * After {@link #close} every call throws {@link IllegalStateException}.
 */
public final class DiffusionModel implements AutoCloseable {
    /** The largest device batch {@link #predictNoise} makes a model for (more images go through in turns). */
    static final int PREDICT_BATCH = 100;

    private final Path source;
    private final ModelFiles.Loaded loaded;
    private final ModelState state;
    private final ModelInfo info;
    private final Compute compute;
    private Backend backend;
    private UNet net;
    private boolean closed;

    private DiffusionModel(Path source, ModelFiles.Loaded loaded, LoadOptions options, Compute compute) {
        this.source = source;
        this.loaded = loaded;
        this.state = loaded.state().select(options.weights());
        this.compute = compute;
        // A diverged run's weights draw nothing but flat colour: refused rather than used.
        state.requireFinite(source.toString());
        UNetConfig cfg = state.config();
        Checkpoint c = loaded.checkpoint();
        this.info = new ModelInfo(source, c != null, cfg, state.params().length, state.timeTableKind(),
                loaded.state().hasEma(), loaded.state().resolve(options.weights()), classNames(cfg, c),
                c != null ? c.progress().globalStep() : -1);
    }

    /** The model in {@code file} (a checkpoint or a safetensors file) on {@link Compute#auto()}, its EMA weights when it keeps some. */
    public static DiffusionModel load(Path file) {
        return load(file, Compute.auto(), LoadOptions.defaults());
    }

    /** The model in {@code file} on {@code compute}, its EMA weights when it keeps some. */
    public static DiffusionModel load(Path file, Compute compute) {
        return load(file, compute, LoadOptions.defaults());
    }

    /**
     * The model in {@code file} on {@code compute}, read as {@code options} say.
     *
     * @throws InvalidInputException the file is missing, damaged, not a model, or holds non-finite weights
     */
    public static DiffusionModel load(Path file, Compute compute, LoadOptions options) {
        if (file == null || compute == null || options == null) throw new InvalidInputException("load: file, compute and options must not be null");
        return Errors.call(() -> new DiffusionModel(file, ModelFiles.load(file, options.fallback()), options, compute));
    }

    public ModelInfo info() {
        return info;
    }

    /**
     * Draws the request's images into memory (all of them: for tens of thousands, see {@link #writeSamples}).
     *
     * @throws java.util.concurrent.CancellationException the request's stop signal turned true
     */
    public synchronized Samples sample(SampleRequest request) {
        checkOpen();
        return Errors.call(() -> {
            SampleOptions o = request.resolve(state.config(), info.classNames(), source.toString());
            UNet model = net(SampleJob.modelBatch(state.config(), o, request.batch()), true);
            long t0 = System.nanoTime();
            var r = Sampler.run(model, o, request.listener() == null ? null : request.listener()::progress, null, o.count(),
                    request.stop());
            return new Samples(r, (System.nanoTime() - t0) / 1e9);
        });
    }

    /**
     * Draws the request's images into files in {@code dir}, as {@code ddpm sample} does: {@code formats} picks
     * GRID (samples.png, the mid-step grid and the strip), PNG (sample-00000.png ..., one per image) and NPZ
     * (samples.npz); PNG and NPZ are written as the batches finish, so any count fits in memory. The folder is
     * created when needed; one that cannot be written, or (unless {@code overwrite}) files of an earlier run
     * in it, are refused before anything is sampled. What it does goes to the request's log.
     *
     * @throws java.util.concurrent.CancellationException the request's stop signal turned true
     */
    public synchronized SampleFiles writeSamples(SampleRequest request, Path dir, Set<SampleFormat> formats, boolean overwrite) {
        checkOpen();
        if (formats == null || formats.isEmpty()) throw Errors.invalid(Setting.FORMAT, "needs at least one of grid, png, npz");
        return Errors.call(() -> {
            SampleOptions o = request.resolve(state.config(), info.classNames(), source.toString());
            request.log().println("weights: " + info.weights().label() + (info.hasEma() ? " (the checkpoint keeps an EMA)" : ""));
            SampleJob.Result r = SampleJob.run(backend(), maxBatch -> net(maxBatch, true), state.config(), o, request.batch(),
                    dir, formats, overwrite, request.log(), request.listener() == null ? null : request.listener()::progress,
                    request.stop());
            return new SampleFiles(r.images(), r.mid(), r.mid() != null ? r.result().midTime() : -1, r.strip(), r.pngDir(),
                    r.npz(), o.count(), r.seconds());
        });
    }

    /**
     * The model's noise prediction eps(x_t, t): the eval forward pass, BatchNorm with its running statistics
     * (which it never updates), as PyTorch's {@code model.eval()(x, t)}.
     *
     * Any number of images: they go through the device in batches of up to 100.
     *
     * @param x n images, n x channels x height x width values (channel-major)
     * @param t n timesteps in [0, T)
     * @return n x channels x height x width values
     */
    public float[] predictNoise(float[] x, int[] t) {
        return predictNoise(x, t, null);
    }

    /**
     * As {@link #predictNoise(float[], int[])} for a class-conditional model with one class label per image
     * (0 .. classes - 1, or classes for the null class); null labels mean the null class.
     */
    public synchronized float[] predictNoise(float[] x, int[] t, int[] labels) {
        checkOpen();
        UNetConfig cfg = state.config();
        int n = checkForwardInput(cfg, x, t, labels);
        return Errors.call(() -> {
            // In device batches of at most PREDICT_BATCH (or the model made before, if larger): in eval mode each
            // image's prediction does not depend on the others, so any split gives the same numbers.
            UNet model = net(Math.min(n, PREDICT_BATCH), false);
            if (n <= model.maxBatch()) return model.predictNoise(x, t, labels, n);
            int per = cfg.sampleSize(), chunk = model.maxBatch();
            float[] out = new float[x.length];
            for (int first = 0; first < n; first += chunk) {
                int k = Math.min(chunk, n - first);
                float[] part = model.predictNoise(Arrays.copyOfRange(x, first * per, (first + k) * per),
                        Arrays.copyOfRange(t, first, first + k), labels == null ? null : Arrays.copyOfRange(labels, first, first + k),
                        k);
                System.arraycopy(part, 0, out, first * per, part.length);
            }
            return out;
        });
    }

    /**
     * Writes the weights this model uses (see {@link ModelInfo#weights}) as seed-format safetensors under the
     * notebook's state_dict names, which its PyTorch UNet loads with {@code load_state_dict(strict=True)}
     * (a conditional model adds class_embed.weight); ddpm4j's metadata keeps the image size and schedule.
     * Replaces {@code file} atomically.
     */
    public synchronized void exportSafetensors(Path file) {
        checkOpen();
        Errors.run(() -> ModelFiles.writeSafetensors(state, file));
    }

    /**
     * Writes the weights this model uses as a new checkpoint (as {@code ddpm import}): step 0, a fresh Adam
     * state, the configuration of the checkpoint it came from (a safetensors model gets the seed preset's
     * settings, marked "imported"), so that it can be sampled or fine-tuned.
     *
     * @param overwrite replace an existing {@code file}; when false an existing one is refused
     */
    public synchronized void saveCheckpoint(Path file, boolean overwrite) {
        checkOpen();
        if (Files.exists(file) && !overwrite) throw new InvalidInputException(SettingText.of(file + " already exists (pass ", Setting.FORCE, " to overwrite it)"), null);
        Errors.run(() -> {
            CheckpointMeta meta = loaded.checkpoint() != null ? loaded.checkpoint().meta()
                    : new CheckpointMeta(state.config(), Preset.SEED.settings().withPreset("imported"),
                            DataSpec.cifar(null, Split.TRAIN), 0, null);
            OptimizerState fresh = new OptimizerState(new float[2 * state.params().length], 0);
            CheckpointFile.write(file, new Checkpoint(meta, state, fresh, TrainingState.START));
        });
    }

    /** Frees the device memory and closes the device; idempotent. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        Errors.run(() -> {
            try {
                if (net != null) net.close();
            } finally {
                if (backend != null) backend.close();
            }
        });
    }

    /** The weights (the selected ones, without the EMA) of the fine-tune base this model is; for the Trainer. */
    ModelState weights() {
        return state;
    }

    /** The checkpoint the model came from, or null for a safetensors file; for the Trainer. */
    Checkpoint checkpoint() {
        return loaded.checkpoint();
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("the model from " + source + " is closed");
    }

    private Backend backend() {
        if (backend == null) backend = compute.open();
        return backend;
    }

    /**
     * The native model with the weights loaded, for batches of {@code maxBatch} images: the one made before when
     * its max batch is that ({@code exact}: the sampler's chunks, and so its strip, follow the max batch) or at
     * least that, else a new one in its place.
     */
    private UNet net(int maxBatch, boolean exact) {
        if (net != null && (exact ? net.maxBatch() == maxBatch : net.maxBatch() >= maxBatch)) return net;
        if (net != null) {
            net.close();
            net = null;
        }
        UNet fresh = backend().createUNet(state.config(), maxBatch);
        try {
            state.applyTo(fresh);
        } catch (RuntimeException | Error e) {
            fresh.close();
            throw e;
        }
        net = fresh;
        return net;
    }

    private static int checkForwardInput(UNetConfig cfg, float[] x, int[] t, int[] labels) {
        if (x == null || t == null) throw new InvalidInputException("predictNoise: x and t must not be null");
        int per = cfg.sampleSize();
        if (x.length == 0 || x.length % per != 0) {
            throw new InvalidInputException("predictNoise: x holds " + x.length + " values, expected a positive multiple of "
                    + per + " (images of " + cfg.inChannels() + "x" + cfg.height() + "x" + cfg.width() + ")");
        }
        int n = x.length / per;
        if (t.length != n) throw new InvalidInputException("predictNoise: " + n + " images but " + t.length + " timesteps");
        for (int i = 0; i < n; i++) {
            if (t[i] < 0 || t[i] >= cfg.timesteps()) {
                throw new InvalidInputException("predictNoise: t[" + i + "] = " + t[i] + " is outside [0, " + cfg.timesteps() + ")");
            }
        }
        if (labels != null) {
            if (!cfg.conditional()) throw new InvalidInputException("predictNoise: labels need a class-conditional model");
            if (labels.length != n) throw new InvalidInputException("predictNoise: " + n + " images but " + labels.length + " labels");
            for (int i = 0; i < n; i++) {
                if (labels[i] < 0 || labels[i] > cfg.numClasses()) {
                    throw new InvalidInputException("predictNoise: labels[" + i + "] = " + labels[i] + " is outside [0, "
                            + cfg.numClasses() + "] (" + cfg.numClasses() + " = the null class)");
                }
            }
        }
        return n;
    }

    private static List<String> classNames(UNetConfig cfg, Checkpoint c) {
        if (!cfg.conditional()) return List.of();
        List<String> names = c != null ? c.meta().classNames() : null;
        return names != null ? names : SampleRequest.numberedClasses(cfg.numClasses());
    }
}
