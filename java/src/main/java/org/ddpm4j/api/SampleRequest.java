package org.ddpm4j.api;

import java.io.OutputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import org.ddpm4j.data.ClassSelector;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.sample.SampleOptions;
import org.ddpm4j.sample.Sampler;
import org.ddpm4j.sample.SamplerKind;

/**
 * What to draw from a {@link DiffusionModel}: how many images, from which seed, with which sampler
 * and, for a class-conditional model, which class with what guidance; plus a progress listener and
 * a stop signal. Immutable: every {@code with} method returns a changed copy. Image k depends only
 * on (seed, k): the same request gives the same images whatever the batch or the device's threads.
 *
 * <pre>{@code
 * SampleRequest r = SampleRequest.of(16).withSeed(7).withSampler(SamplerKind.DDIM, 50);
 * }</pre>
 *
 * Values are checked here where they can be, and against the model when it samples (the class, the
 * guidance, the number of steps, the mid step), with an {@link InvalidInputException} naming them.
 */
public final class SampleRequest {
    /** The progress of a sampling run: reverse steps done so far out of count x steps, image by image. */
    @FunctionalInterface
    public interface Listener {
        void progress(long imageStepsDone, long imageStepsTotal);
    }

    private static final PrintStream SILENT = new PrintStream(OutputStream.nullOutputStream());

    private final int count;
    private final long seed;
    private final int batch;
    private final SamplerKind sampler;
    private final Integer steps;
    private final Double eta;
    private final boolean clipX0;
    private final String className;
    private final Double guidance;
    private final Integer midStep;
    private final int stripImages;
    private final int stripFrames;
    private final Listener listener;
    private final BooleanSupplier stop;
    private final PrintStream log;

    private SampleRequest(int count, long seed, int batch, SamplerKind sampler, Integer steps, Double eta, boolean clipX0,
                          String className, Double guidance, Integer midStep, int stripImages, int stripFrames,
                          Listener listener, BooleanSupplier stop, PrintStream log) {
        if (count < 1) throw new InvalidInputException("--count must be >= 1, got " + count);
        if (batch < 1) throw new InvalidInputException("--batch must be >= 1, got " + batch);
        if (sampler == null) throw new InvalidInputException("the sampler is null (DDPM or DDIM)");
        if (steps != null && steps < 1) throw new InvalidInputException("--sampling-steps must be >= 1, got " + steps);
        if (eta != null && (!(eta >= 0) || Double.isInfinite(eta))) throw new InvalidInputException("--eta must be a number >= 0, got " + eta);
        if (guidance != null && !Double.isFinite(guidance)) throw new InvalidInputException("--guidance must be a number, got " + guidance);
        if (stripImages < 0) throw new InvalidInputException("--strip-images must be >= 0, got " + stripImages);
        if (stripFrames < 2) throw new InvalidInputException("--strip-frames must be >= 2, got " + stripFrames);
        this.count = count;
        this.seed = seed;
        this.batch = batch;
        this.sampler = sampler;
        this.steps = steps;
        this.eta = eta;
        this.clipX0 = clipX0;
        this.className = className;
        this.guidance = guidance;
        this.midStep = midStep;
        this.stripImages = stripImages;
        this.stripFrames = stripFrames;
        this.listener = listener;
        this.stop = stop != null ? stop : () -> false;
        this.log = log != null ? log : SILENT;
    }

    /**
     * {@code count} images by the notebook's ancestral DDPM sampling through every timestep, seed 0, in
     * device batches of up to 100, with the t = T/2 snapshot and a strip of 8 images x 11 frames; a
     * conditional model draws the classes in turn with guidance 2.
     */
    public static SampleRequest of(int count) {
        return new SampleRequest(count, 0, 100, SamplerKind.DDPM, null, null, false, null, null, null, 8, 11, null, null, null);
    }

    public SampleRequest withCount(int n) {
        return new SampleRequest(n, seed, batch, sampler, steps, eta, clipX0, className, guidance, midStep, stripImages,
                stripFrames, listener, stop, log);
    }

    /** The seed of the noise: image k's is a function of (seed, k) only. */
    public SampleRequest withSeed(long s) {
        return new SampleRequest(count, s, batch, sampler, steps, eta, clipX0, className, guidance, midStep, stripImages,
                stripFrames, listener, stop, log);
    }

    /** Images per device batch (memory, not results: the images are the same for any batch). */
    public SampleRequest withBatch(int n) {
        return new SampleRequest(count, seed, n, sampler, steps, eta, clipX0, className, guidance, midStep, stripImages,
                stripFrames, listener, stop, log);
    }

    /** DDPM (every timestep; the notebook's) or DDIM over its default 50 evenly spaced steps. */
    public SampleRequest withSampler(SamplerKind kind) {
        return new SampleRequest(count, seed, batch, kind, null, eta, clipX0, className, guidance, midStep, stripImages,
                stripFrames, listener, stop, log);
    }

    /** DDIM over {@code samplingSteps} evenly spaced timesteps (1..T); DDPM takes all T. */
    public SampleRequest withSampler(SamplerKind kind, int samplingSteps) {
        return new SampleRequest(count, seed, batch, kind, samplingSteps, eta, clipX0, className, guidance, midStep,
                stripImages, stripFrames, listener, stop, log);
    }

    /** DDIM's noise: 0 deterministic (the default), 1 as noisy as DDPM's posterior. */
    public SampleRequest withEta(double e) {
        return new SampleRequest(count, seed, batch, sampler, steps, e, clipX0, className, guidance, midStep, stripImages,
                stripFrames, listener, stop, log);
    }

    /** Clip the predicted x_0 to [-1, 1] at every step (needed by cosine-schedule models). */
    public SampleRequest withClipX0(boolean clip) {
        return new SampleRequest(count, seed, batch, sampler, steps, eta, clip, className, guidance, midStep, stripImages,
                stripFrames, listener, stop, log);
    }

    /**
     * The class a conditional model draws: a name ({@code "ship"}) or a label number ({@code "8"}); {@code "none"}
     * for unconditional draws; null (the default) for every class in turn, image k of class k mod classes.
     */
    public SampleRequest withClass(String nameOrLabel) {
        return new SampleRequest(count, seed, batch, sampler, steps, eta, clipX0, nameOrLabel, guidance, midStep, stripImages,
                stripFrames, listener, stop, log);
    }

    /** Classifier-free guidance w of a conditional model: eps_null + w (eps_class - eps_null); 1 = the class alone. */
    public SampleRequest withGuidance(double w) {
        return new SampleRequest(count, seed, batch, sampler, steps, eta, clipX0, className, w, midStep, stripImages,
                stripFrames, listener, stop, log);
    }

    /** Also keep every image at this t (default T/2, the notebook's t = 500); -1: no snapshot. */
    public SampleRequest withMidStep(int t) {
        return new SampleRequest(count, seed, batch, sampler, steps, eta, clipX0, className, guidance, t, stripImages,
                stripFrames, listener, stop, log);
    }

    /** The x_T .. x_0 strip: its first {@code images} images (0: none) in {@code frames} frames each. */
    public SampleRequest withStrip(int images, int frames) {
        return new SampleRequest(count, seed, batch, sampler, steps, eta, clipX0, className, guidance, midStep, images, frames,
                listener, stop, log);
    }

    /** Told of the progress on the sampling thread, every 10 reverse steps. */
    public SampleRequest withListener(Listener l) {
        return new SampleRequest(count, seed, batch, sampler, steps, eta, clipX0, className, guidance, midStep, stripImages,
                stripFrames, l, stop, log);
    }

    /**
     * Polled before every reverse step: once it returns true, sampling gives up with a
     * {@link java.util.concurrent.CancellationException} (and {@link DiffusionModel#writeSamples} removes the folder it
     * created, if empty).
     */
    public SampleRequest withStop(BooleanSupplier s) {
        return new SampleRequest(count, seed, batch, sampler, steps, eta, clipX0, className, guidance, midStep, stripImages,
                stripFrames, listener, s, log);
    }

    /** Where {@link DiffusionModel#writeSamples} writes what it does and its progress (default: nowhere). */
    public SampleRequest withLog(PrintStream out) {
        return new SampleRequest(count, seed, batch, sampler, steps, eta, clipX0, className, guidance, midStep, stripImages,
                stripFrames, listener, stop, out);
    }

    public int count() {
        return count;
    }

    public long seed() {
        return seed;
    }

    public int batch() {
        return batch;
    }

    Listener listener() {
        return listener;
    }

    BooleanSupplier stop() {
        return stop;
    }

    PrintStream log() {
        return log;
    }

    /**
     * The sampler's options for a model, checked against it.
     *
     * @param classNames the model's class names (label i is classNames[i]) when it is conditional
     * @param source the model's file, for messages
     */
    SampleOptions resolve(UNetConfig cfg, List<String> classNames, String source) {
        if (sampler == SamplerKind.DDPM && eta != null) throw new InvalidInputException("--eta is for --sampler ddim");
        int T = cfg.timesteps();
        int mid = midStep != null ? midStep : T / 2;
        if (mid >= T || mid < -1) throw new InvalidInputException("--mid-step must be in [0, " + (T - 1) + "] or -1, got " + mid);
        SampleOptions o = new SampleOptions(count, seed, mid, stripImages, stripFrames)
                .withSampler(sampler, steps != null ? steps : 0, eta != null ? eta : 0.0, clipX0)
                .withClass(classLabel(cfg, classNames, source), guidance(cfg));
        Sampler.timesteps(o, T);  // --sampler / --sampling-steps against the model, before anything is done
        return o;
    }

    /** The class against the model: its label (the null class for 'none'), or -1 for every class in turn. */
    private int classLabel(UNetConfig cfg, List<String> classNames, String source) {
        if (className == null) return -1;
        if (!cfg.conditional()) {
            throw new InvalidInputException("--class needs a class-conditional model (train with --conditional); "
                    + source + " is unconditional");
        }
        String c = className.trim();
        if (c.equalsIgnoreCase("none") || c.equalsIgnoreCase("null")) return cfg.numClasses();
        return ClassSelector.resolve(classNames, c);
    }

    private double guidance(UNetConfig cfg) {
        if (guidance == null) return SampleOptions.DEFAULT_GUIDANCE;
        if (!cfg.conditional()) throw new InvalidInputException("--guidance needs a class-conditional model (train with --conditional)");
        return guidance;
    }

    /** Label numbers as names, for a conditional model whose file names no classes. */
    static List<String> numberedClasses(int n) {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < n; i++) names.add(Integer.toString(i));
        return names;
    }
}
