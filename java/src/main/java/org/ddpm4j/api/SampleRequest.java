package org.ddpm4j.api;

import java.awt.image.BufferedImage;
import java.io.OutputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.ddpm4j.data.ClassSelector;
import org.ddpm4j.data.ImageSet;
import org.ddpm4j.data.MemoryImages;
import org.ddpm4j.data.Resize;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.sample.ImageToImage;
import org.ddpm4j.sample.Inpainting;
import org.ddpm4j.sample.SampleOptions;
import org.ddpm4j.sample.Sampler;
import org.ddpm4j.sample.SamplerKind;
import org.ddpm4j.sample.TimestepSpacing;
import org.ddpm4j.setting.Setting;

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

    /** The values, copied and changed by each {@code with} method, never changed once the request holds them. */
    private static final class Values implements Cloneable {
        int count;
        long seed;
        int batch = 100;
        SamplerKind sampler = SamplerKind.DDPM;
        Integer steps;
        Double eta;
        boolean clipX0;
        boolean karras;
        TimestepSpacing spacing;
        String className;
        Double guidance;
        Integer midStep;
        int stripImages = 8;
        int stripFrames = 11;
        List<BufferedImage> inpaintImages, inpaintMasks;
        int jumpLength = Inpainting.DEFAULT_JUMP_LENGTH, jumpSamples = Inpainting.DEFAULT_JUMP_SAMPLES;
        List<BufferedImage> initImages;
        double strength = ImageToImage.DEFAULT_STRENGTH;
        Resize resize = Resize.NONE;
        Listener listener;
        BooleanSupplier stop = () -> false;
        PrintStream log = SILENT;

        Values copy() {
            try {
                return (Values) clone();
            } catch (CloneNotSupportedException e) {
                throw new AssertionError(e);
            }
        }
    }

    private final Values v;

    private SampleRequest(Values v) {
        if (v.count < 1) throw Errors.invalid(Setting.COUNT, "must be >= 1, got " + v.count);
        if (v.batch < 1) throw Errors.invalid(Setting.BATCH, "must be >= 1, got " + v.batch);
        if (v.sampler == null) {
            throw new InvalidInputException("the sampler is null (DDPM, DDIM, DPM_SOLVER, DPM_SOLVER_SDE or DPM_SOLVER_3M)");
        }
        if (v.steps != null && v.steps < 1) throw Errors.invalid(Setting.SAMPLING_STEPS, "must be >= 1, got " + v.steps);
        if (v.eta != null && (!(v.eta >= 0) || Double.isInfinite(v.eta))) {
            throw Errors.invalid(Setting.ETA, "must be a number >= 0, got " + v.eta);
        }
        if (v.guidance != null && !Double.isFinite(v.guidance)) throw Errors.invalid(Setting.GUIDANCE, "must be a number, got " + v.guidance);
        if (v.stripImages < 0) throw Errors.invalid(Setting.STRIP_IMAGES, "must be >= 0, got " + v.stripImages);
        if (v.stripFrames < 2) throw Errors.invalid(Setting.STRIP_FRAMES, "must be >= 2, got " + v.stripFrames);
        if ((v.inpaintImages == null) != (v.inpaintMasks == null)) {
            throw Errors.invalid(v.inpaintImages == null ? Setting.INPAINT : Setting.MASK, "is missing: inpainting needs an image and a mask");
        }
        if (v.inpaintImages != null) {
            if (v.inpaintImages.isEmpty() || v.inpaintImages.contains(null)) throw Errors.invalid(Setting.INPAINT, "needs pictures, not none or null");
            if (v.inpaintMasks.contains(null) || (v.inpaintMasks.size() != 1 && v.inpaintMasks.size() != v.inpaintImages.size())) {
                throw Errors.invalid(Setting.MASK, "needs one mask for every picture, or one for all: " + v.inpaintImages.size()
                        + " pictures, " + v.inpaintMasks.size() + " masks");
            }
        }
        if (v.initImages != null && (v.initImages.isEmpty() || v.initImages.contains(null))) {
            throw Errors.invalid(Setting.INIT, "needs pictures, not none or null");
        }
        if (!(v.strength > 0 && v.strength <= 1)) throw Errors.invalid(Setting.STRENGTH, "must be in (0, 1], got " + v.strength);
        if (v.initImages != null && v.inpaintImages != null) throw Errors.invalid(Setting.INIT, "and ", Setting.INPAINT, " exclude each other");
        if (v.jumpLength < 1) throw Errors.invalid(Setting.JUMP_LENGTH, "must be >= 1, got " + v.jumpLength);
        if (v.jumpSamples < 1) throw Errors.invalid(Setting.JUMP_SAMPLES, "must be >= 1, got " + v.jumpSamples);
        if (v.stop == null) v.stop = () -> false;
        if (v.log == null) v.log = SILENT;
        this.v = v;
    }

    private SampleRequest with(Consumer<Values> change) {
        Values c = v.copy();
        change.accept(c);
        return new SampleRequest(c);
    }

    /**
     * {@code count} images by the notebook's ancestral DDPM sampling through every timestep, seed 0, in
     * device batches of up to 100, with the t = T/2 snapshot and a strip of 8 images x 11 frames; a
     * conditional model draws the classes in turn with guidance 2.
     */
    public static SampleRequest of(int count) {
        Values v = new Values();
        v.count = count;
        return new SampleRequest(v);
    }

    public SampleRequest withCount(int n) {
        return with(c -> c.count = n);
    }

    /** The seed of the noise: image k's is a function of (seed, k) only. */
    public SampleRequest withSeed(long s) {
        return with(c -> c.seed = s);
    }

    /** Images per device batch (memory, not results: the images are the same for any batch). */
    public SampleRequest withBatch(int n) {
        return with(c -> c.batch = n);
    }

    /**
     * DDPM (every timestep; the notebook's), DDIM over its default 50 evenly spaced steps, or
     * DPM-Solver++ (ODE or SDE) over its default 20.
     */
    public SampleRequest withSampler(SamplerKind kind) {
        return with(c -> {
            c.sampler = kind;
            c.steps = null;
        });
    }

    /** DDIM over {@code samplingSteps} evenly spaced timesteps (1..T), DPM-Solver++ over 1..T-1; DDPM takes all T. */
    public SampleRequest withSampler(SamplerKind kind, int samplingSteps) {
        return with(c -> {
            c.sampler = kind;
            c.steps = samplingSteps;
        });
    }

    /** DDIM's noise: 0 deterministic (the default), 1 as noisy as DDPM's posterior. */
    public SampleRequest withEta(double e) {
        return with(c -> c.eta = e);
    }

    /**
     * DPM-Solver++ (any of the three) stepping between Karras et al.'s noise levels, as diffusers'
     * {@code use_karras_sigmas} ("DPM++ 2M Karras"): denser at low noise, where the image's detail is made.
     */
    public SampleRequest withKarras(boolean on) {
        return with(c -> c.karras = on);
    }

    /**
     * Which timesteps DDIM or DPM-Solver++ visit, as diffusers' {@code timestep_spacing} (LINSPACE, LEADING,
     * TRAILING); null (the default) for the sampler's own: DDIM's floor(i T / S), DPM-Solver++'s LINSPACE.
     */
    public SampleRequest withTimestepSpacing(TimestepSpacing s) {
        return with(c -> c.spacing = s);
    }

    /** Clip the predicted x_0 to [-1, 1] at every step (needed by cosine-schedule models). */
    public SampleRequest withClipX0(boolean clip) {
        return with(c -> c.clipX0 = clip);
    }

    /**
     * The class a conditional model draws: a name ({@code "ship"}) or a label number ({@code "8"}); {@code "none"}
     * for unconditional draws; null (the default) for every class in turn, image k of class k mod classes.
     */
    public SampleRequest withClass(String nameOrLabel) {
        return with(c -> c.className = nameOrLabel);
    }

    /** Classifier-free guidance w of a conditional model: eps_null + w (eps_class - eps_null); 1 = the class alone. */
    public SampleRequest withGuidance(double w) {
        return with(c -> c.guidance = w);
    }

    /**
     * Inpainting by RePaint (Lugmayr et al. 2022), as Hugging Face diffusers' {@code RePaintPipeline}: every image
     * keeps {@code image} where {@code mask} is black and paints where it is white (grey: a blend; the mask's
     * luminance), in the model's size. It runs RePaint's DDIM steps ({@link #withSampler(SamplerKind, int)} with
     * DDIM sets their number, default 250; {@link #withEta} their noise, default 1, the RePaint paper's DDPM noise,
     * where diffusers' pipeline defaults to 0, which only strong models sample well) with the x_0 prediction clipped
     * to [-1, 1] (diffusers' default) and jumps back ({@link #withRepaintJumps}); null, null: no inpainting.
     */
    public SampleRequest withInpainting(BufferedImage image, BufferedImage mask) {
        return image == null && mask == null ? withInpainting(null, (List<BufferedImage>) null)
                : withInpainting(image == null ? null : List.of(image), mask == null ? null : List.of(mask));
    }

    /**
     * As {@link #withInpainting(BufferedImage, BufferedImage)} for several pictures: image k of the request inpaints
     * {@code images[k mod M]} with {@code masks[k mod M]}, or with the one mask given for all. Null, null: none.
     */
    public SampleRequest withInpainting(List<BufferedImage> images, List<BufferedImage> masks) {
        return with(c -> {
            c.inpaintImages = images == null ? null : new ArrayList<>(images);
            c.inpaintMasks = masks == null ? null : new ArrayList<>(masks);
        });
    }

    /**
     * RePaint's jumps: back {@code length} steps by re-noising, {@code samples} times at every {@code length}-th
     * step (diffusers' {@code jump_length} and {@code jump_n_sample}; default 10 and 10; samples 1: no jumps).
     */
    public SampleRequest withRepaintJumps(int length, int samples) {
        return with(c -> {
            c.jumpLength = length;
            c.jumpSamples = samples;
        });
    }

    /**
     * Image-to-image (SDEdit, Meng et al. 2022), as diffusers' img2img pipelines: every image starts from
     * {@code image} (the model's size) noised part of the way along the sampler's schedule and runs the rest of
     * it, keeping the picture's layout and colours while the model redraws its detail. Of the sampler's S steps the
     * last floor(S x strength) are run (strength in (0, 1], default 0.3, see {@link ImageToImage#DEFAULT_STRENGTH}; 1 starts
     * from pure noise). Any
     * sampler but Karras sigmas; not with inpainting. Null: from pure noise.
     */
    public SampleRequest withInitImage(BufferedImage image, double strength) {
        return withInitImages(image == null ? null : List.of(image), strength);
    }

    /** As {@link #withInitImage} for several pictures: image k of the request starts from {@code images[k mod M]}. */
    public SampleRequest withInitImages(List<BufferedImage> images, double strength) {
        return with(c -> {
            c.initImages = images == null ? null : new ArrayList<>(images);
            c.strength = strength;
        });
    }

    /**
     * What to do with an inpainting image, its mask or an image-to-image picture that is not the model's size:
     * {@link Resize#NONE} (the default) refuses it, CROP scales its centred square, STRETCH the whole picture (as
     * training's {@code TrainingData.resize}, Pillow's antialiased bilinear filter).
     */
    public SampleRequest withResize(Resize r) {
        return with(c -> c.resize = r == null ? Resize.NONE : r);
    }

    /** Also keep every image at this t (default T/2, the notebook's t = 500); -1: no snapshot. */
    public SampleRequest withMidStep(int t) {
        return with(c -> c.midStep = t);
    }

    /** The x_T .. x_0 strip: its first {@code images} images (0: none) in {@code frames} frames each. */
    public SampleRequest withStrip(int images, int frames) {
        return with(c -> {
            c.stripImages = images;
            c.stripFrames = frames;
        });
    }

    /** Told of the progress on the sampling thread, every 10 reverse steps. */
    public SampleRequest withListener(Listener l) {
        return with(c -> c.listener = l);
    }

    /**
     * Polled before every reverse step: once it returns true, sampling gives up with a
     * {@link java.util.concurrent.CancellationException} (and {@link DiffusionModel#writeSamples} removes the folder it
     * created, if empty).
     */
    public SampleRequest withStop(BooleanSupplier s) {
        return with(c -> c.stop = s);
    }

    /** Where {@link DiffusionModel#writeSamples} writes what it does and its progress (default: nowhere). */
    public SampleRequest withLog(PrintStream out) {
        return with(c -> c.log = out);
    }

    public int count() {
        return v.count;
    }

    public long seed() {
        return v.seed;
    }

    public int batch() {
        return v.batch;
    }

    Listener listener() {
        return v.listener;
    }

    BooleanSupplier stop() {
        return v.stop;
    }

    PrintStream log() {
        return v.log;
    }

    /**
     * The sampler's options for a model, checked against it.
     *
     * @param classNames the model's class names (label i is classNames[i]) when it is conditional
     * @param source the model's file, for messages
     */
    SampleOptions resolve(UNetConfig cfg, List<String> classNames, String source) {
        boolean inpaint = v.inpaintImages != null;
        if (inpaint && v.sampler != SamplerKind.DDIM && v.sampler != SamplerKind.DDPM) {
            throw Errors.invalid(Setting.INPAINT, "runs RePaint's own DDIM steps: not with ", Setting.SAMPLER, " " + v.sampler.label());
        }
        if (inpaint && v.karras) throw Errors.invalid(Setting.INPAINT, "runs RePaint's own DDIM steps: not with ", Setting.KARRAS);
        if (v.initImages != null && v.karras) throw Errors.invalid(Setting.INIT, "and ", Setting.KARRAS, " exclude each other");
        if (!inpaint && v.sampler != SamplerKind.DDIM && v.eta != null) throw Errors.invalid(Setting.ETA, "is for ", Setting.SAMPLER, " ddim");
        int T = cfg.timesteps();
        int mid = v.midStep != null ? v.midStep : T / 2;
        if (mid >= T || mid < -1) throw Errors.invalid(Setting.MID_STEP, "must be in [0, " + (T - 1) + "] or -1, got " + mid);
        SampleOptions o = new SampleOptions(v.count, v.seed, mid, v.stripImages, v.stripFrames)
                .withSampler(v.sampler, v.steps != null ? v.steps : 0, v.eta != null ? v.eta : 0.0, v.clipX0)
                .withClass(classLabel(cfg, classNames, source), guidance(cfg))
                .withKarras(v.karras)
                .withSpacing(v.spacing);
        if (v.initImages != null) {
            int per = cfg.sampleSize();
            float[] all = new float[v.initImages.size() * per];
            for (int i = 0; i < v.initImages.size(); i++) {
                System.arraycopy(pictureValues(v.initImages.get(i), cfg, Setting.INIT, v.resize), 0, all, i * per, per);
            }
            o = o.withInit(new ImageToImage(all, v.strength));
        }
        if (inpaint) {
            Inpainting in = inpainting(v.inpaintImages, v.inpaintMasks, cfg, v.jumpLength, v.jumpSamples, v.resize);
            o = o.withInpainting(in, v.sampler == SamplerKind.DDIM && v.steps != null ? v.steps : 0,
                    v.eta != null ? v.eta : Inpainting.DEFAULT_ETA);
        }
        // SampleOptions refused --karras / --timestep-spacing with a sampler they are not for (resolve runs under
        // Errors.call, which makes that an InvalidInputException with the same text).
        Sampler.timesteps(o, T);  // --sampler / --sampling-steps against the model, before anything is done
        return o;
    }

    /**
     * The known image (values in [-1, 1]) and the mask (keep = 1 - luminance / 255, the same for every channel)
     * in the model's shape; both must be the model's size.
     */
    static Inpainting inpainting(List<BufferedImage> images, List<BufferedImage> masks, UNetConfig cfg, int jumpLength,
                                 int jumpSamples, Resize resize) {
        int hw = cfg.height() * cfg.width(), per = cfg.sampleSize();
        float[] known = new float[images.size() * per], keep = new float[images.size() * per];
        for (int i = 0; i < images.size(); i++) {
            System.arraycopy(pictureValues(images.get(i), cfg, Setting.INPAINT, resize), 0, known, i * per, per);
            float[] lum = pictureBytes(masks.get(masks.size() == 1 ? 0 : i), cfg, 1, Setting.MASK, resize);
            for (int j = 0; j < per; j++) keep[i * per + j] = 1f - lum[j % hw] / 255f;
        }
        return new Inpainting(known, keep, jumpLength, jumpSamples);
    }

    /** A picture of the model's size as the model's values, p / 127.5 - 1 per channel (training's pixel scaling). */
    static float[] pictureValues(BufferedImage img, UNetConfig cfg, Setting which, Resize resize) {
        float[] px = pictureBytes(img, cfg, cfg.inChannels(), which, resize);
        for (int i = 0; i < px.length; i++) px[i] = px[i] / 127.5f - 1f;
        return px;
    }

    /**
     * A picture as C x H x W bytes 0..255 (channels 1: its luminance) of the model's size, resized as asked, as
     * floats.
     */
    private static float[] pictureBytes(BufferedImage img, UNetConfig cfg, int channels, Setting which, Resize resize) {
        int C = cfg.inChannels(), H = cfg.height(), W = cfg.width();
        if (C != 1 && C != 3) throw Errors.invalid(which, "needs a model with 1 or 3 channels, not " + C);
        if ((img.getWidth() != W || img.getHeight() != H) && resize == Resize.NONE) {
            throw Errors.invalid(which, "is " + img.getWidth() + "x" + img.getHeight() + ", the model's images are " + W + "x" + H,
                    " (", Setting.RESIZE, " crop or stretch scales it)");
        }
        byte[] b = new byte[channels * H * W];
        ImageSet set = MemoryImages.ofPictures(List.of(img), List.of("picture"), channels, H, W, resize);
        set.copyImage(0, b, 0);
        float[] out = new float[b.length];
        for (int i = 0; i < b.length; i++) out[i] = b[i] & 0xff;
        return out;
    }

    /** The class against the model: its label (the null class for 'none'), or -1 for every class in turn. */
    private int classLabel(UNetConfig cfg, List<String> classNames, String source) {
        if (v.className == null) return -1;
        if (!cfg.conditional()) {
            throw Errors.invalid(Setting.CLASS, "needs a class-conditional model (train with ", Setting.CONDITIONAL, "); "
                    + source + " is unconditional");
        }
        String c = v.className.trim();
        if (c.equalsIgnoreCase("none") || c.equalsIgnoreCase("null")) return cfg.numClasses();
        return ClassSelector.resolve(classNames, c);
    }

    private double guidance(UNetConfig cfg) {
        if (v.guidance == null) return SampleOptions.DEFAULT_GUIDANCE;
        if (!cfg.conditional()) throw Errors.invalid(Setting.GUIDANCE, "needs a class-conditional model (train with ", Setting.CONDITIONAL, ")");
        return v.guidance;
    }

    /** Label numbers as names, for a conditional model whose file names no classes. */
    static List<String> numberedClasses(int n) {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < n; i++) names.add(Integer.toString(i));
        return names;
    }
}
