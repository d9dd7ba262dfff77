package org.ddpm4j.sample;

import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;
import org.ddpm4j.model.NoiseLevels;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.setting.InvalidSettingException;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.setting.SettingText;

/**
 * Sampling with the native reverse-step kernels (BatchNorm in eval mode): ancestral DDPM
 * through every timestep, DDIM over evenly spaced ones, or DPM-Solver++ in fewer; for a class-conditional model
 * with classifier-free guidance. Draws {@code count} images in chunks of at most the
 * model's max batch (half of it when guidance batches the conditional and unconditional
 * passes together). Image k's noise is a function of (seed, k) only, so results do not
 * depend on the chunking, and the same seed gives the same images.
 */
public final class Sampler {
    /** Progress: reverse steps done so far out of count * steps image-steps. */
    @FunctionalInterface
    public interface Listener {
        void progress(long imageStepsDone, long imageStepsTotal);
    }

    private Sampler() {}

    /** All images kept in the result. */
    public static SampleResult run(UNet net, SampleOptions o, Listener listener) {
        return run(net, o, listener, null, o.count());
    }

    /**
     * @param sink receives every chunk of final images as it is done (null: none)
     * @param keep how many of the first images the result holds (with their mid snapshots):
     *     the rest only go to the sink, so that any count fits in memory
     */
    public static SampleResult run(UNet net, SampleOptions o, Listener listener, ImageSink sink, int keep) {
        return run(net, o, listener, sink, keep, () -> false);
    }

    /**
     * As {@link #run(UNet, SampleOptions, Listener, ImageSink, int)}, giving up with a {@link CancellationException}
     * within one reverse step of {@code stop} turning true (e.g. Ctrl-C during a training run's grid).
     */
    public static SampleResult run(UNet net, SampleOptions o, Listener listener, ImageSink sink, int keep, BooleanSupplier stop) {
        UNetConfig cfg = net.config();
        int T = cfg.timesteps();
        int per = cfg.sampleSize();
        int C = cfg.inChannels(), H = cfg.height(), W = cfg.width();
        NoiseLevels levels = o.karras() ? net.karrasLevels(timesteps(o, T).length) : null;
        int[] ts = levels != null ? levels.timesteps() : timesteps(o, T);
        boolean pair = cfg.conditional() && o.guidance() != 0 && o.guidance() != 1;
        int chunk = pair ? net.maxBatch() / 2 : net.maxBatch();
        if (chunk < 1) throw new IllegalArgumentException("guided sampling needs a batch of at least 2 (it runs 2 passes per image)");
        checkClass(cfg, o);
        keep = Math.max(0, Math.min(keep, o.count()));
        int midTime = midTime(ts, o.midStep());
        int stripN = Math.min(o.stripImages(), Math.min(o.count(), chunk));
        int frames = Math.min(o.stripFrames(), ts.length + 1);  // distinct times only
        // Image-to-image starts at its first timestep, not at T: the strip's first frame is labelled so.
        int[] stripTimes = stripTimes(ts, o.init() != null ? ts[0] : T, frames);
        float[] finals = new float[keep * per];
        float[] mid = midTime >= 0 ? new float[keep * per] : null;
        float[] strip = stripN > 0 ? new float[stripN * frames * per] : null;
        float clip = o.clipX0() ? 1f : 0f;
        Inpainting inpaint = o.inpainting();
        ImageToImage init = o.init();
        if (init != null && (init.init().length == 0 || init.init().length % per != 0)) {
            throw new IllegalArgumentException("the starting images have " + init.init().length + " values, not a whole number of the"
                    + " model's images of " + per + " (" + C + "x" + H + "x" + W + ")");
        }
        if (inpaint != null && (inpaint.known().length == 0 || inpaint.known().length % per != 0)) {
            throw new IllegalArgumentException("the known images have " + inpaint.known().length + " values, not a whole number of the"
                    + " model's images of " + per + " (" + C + "x" + H + "x" + W + ")");
        }
        int repaintS = inpaint != null ? repaintSteps(o, T) : 0, span = inpaint != null ? T / repaintS : 0;
        int[] repaint = inpaint != null ? repaintTimesteps(T, repaintS, inpaint.jumpLength(), inpaint.jumpSamples()) : null;
        int[] entries = repaint != null ? repaint : ts;
        long total = (long) o.count() * entries.length;
        long done = 0;
        for (int first = 0; first < o.count(); first += chunk) {
            int n = Math.min(chunk, o.count() - first);
            int kept = Math.max(0, Math.min(n, keep - first));
            net.sampleBegin(n, o.seed(), first);
            if (cfg.conditional()) net.sampleSetLabels(labels(cfg, o, first, n), (float) o.guidance());
            if (init != null) {  // the picture noised to the first timestep run
                float[] ones = new float[n * per];
                java.util.Arrays.fill(ones, 1f);
                net.sampleSetKnown(pictures(init.init(), per, first, n), ones);
                net.sampleNoiseKnown(ts[0]);
            }
            boolean stripChunk = first == 0 && strip != null;
            int frame = 0;
            if (stripChunk) saveStrip(net.sampleRead(false), strip, stripN, frames, frame++, per);
            if (inpaint != null) net.sampleSetKnown(pictures(inpaint.known(), per, first, n), pictures(inpaint.keep(), per, first, n));
            // One loop over the schedule's entries: the samplers' are all model steps; RePaint's (as diffusers'
            // RePaintPipeline) are a model step to t - T // S (x_0 from the first) where t is below the entry
            // before it, else a jump back by re-noising from that entry.
            int i = 0, tLast = entries[0] + 1;  // i: model steps done
            for (int e = 0; e < entries.length; e++) {
                int t = entries[e];
                if (stop.getAsBoolean()) throw new CancellationException("sampling stopped at t = " + t);
                if (repaint != null && t >= tLast) {
                    net.sampleUndo(tLast, span);
                } else {
                    boolean last = i == ts.length - 1;
                    int next = last ? -1 : ts[i + 1];
                    if (repaint != null) {
                        net.sampleStepRepaint(t, t - span >= 0 ? t - span : -1, o.eta(), 1f);
                    } else {
                        switch (o.sampler()) {
                            case DDPM -> net.sampleStep(t, clip);
                            case DDIM -> net.sampleStepDdim(t, next, o.eta(), clip);
                            // Second order from the second step on (3M: third from the third, but second at the
                            // second-to-last under 15 steps, as diffusers); the last step (to x_0) is first order.
                            case DPM_SOLVER, DPM_SOLVER_SDE, DPM_SOLVER_3M -> {
                                boolean third = o.sampler() == SamplerKind.DPM_SOLVER_3M && i >= 2 && !last
                                        && !(ts.length < 15 && i == ts.length - 2);
                                boolean sde = o.sampler() == SamplerKind.DPM_SOLVER_SDE;
                                if (levels != null) {
                                    double[] s = levels.sigmas();
                                    net.sampleStepDpmSolverSigmas(t, s[i], last ? 0 : s[i + 1], i > 0 ? s[i - 1] : 0,
                                            third ? s[i - 2] : 0, sde, clip);
                                } else {
                                    net.sampleStepDpmSolver(t, next, i > 0 ? ts[i - 1] : -1, third ? ts[i - 2] : -1, sde, clip);
                                }
                            }
                        }
                    }
                    if (mid != null && t == midTime && kept > 0) System.arraycopy(net.sampleRead(false), 0, mid, first * per, kept * per);
                    // The last frame is x_0, after the last step (at t = 0, or at DPM-Solver++'s smallest t).
                    if (stripChunk && frame < frames && (frame == frames - 1 ? last : t == stripTimes[frame])) {
                        saveStrip(net.sampleRead(last), strip, stripN, frames, frame++, per);
                    }
                    i++;
                }
                tLast = t;
                done += n;
                if (listener != null && ((e + 1) % 10 == 0 || e == entries.length - 1)) listener.progress(done, total);
            }
            float[] x = net.sampleRead(true);
            if (kept > 0) System.arraycopy(x, 0, finals, first * per, kept * per);
            if (sink != null) sink.accept(first, new Images(n, C, H, W, x));
        }
        if (listener != null) listener.progress(total, total);
        return new SampleResult(new Images(keep, C, H, W, finals), mid != null ? new Images(keep, C, H, W, mid) : null,
                strip != null ? new Images(stripN * frames, C, H, W, strip) : null, stripTimes, midTime, ts);
    }

    /**
     * The timesteps the model is evaluated at, in order: {@link #timesteps(SampleOptions, int)}, or with
     * Karras sigmas their levels' rounded timesteps (which may repeat near 0).
     */
    public static int[] visited(UNet net, SampleOptions o) {
        int[] ts = timesteps(o, net.config().timesteps());
        return o.karras() ? net.karrasLevels(ts.length).timesteps() : ts;
    }

    /**
     * The timesteps the sampler visits without Karras sigmas, descending (and checks the number of
     * steps): every one for DDPM; DDIM's own or those of the options' {@link TimestepSpacing}, whose
     * last step goes on to x_0 (from 0, or from T/S or so for TRAILING); DPM-Solver++'s, whose last
     * step goes from its smallest t to x_0. With Karras sigmas the run has as many steps, at the
     * timesteps of {@link #visited}.
     */
    public static int[] timesteps(SampleOptions o, int T) {
        if (o.inpainting() != null) {  // the model steps of the RePaint schedule, in order (timesteps repeat)
            Inpainting in = o.inpainting();
            int[] all = repaintTimesteps(T, repaintSteps(o, T), in.jumpLength(), in.jumpSamples());
            int[] steps = new int[all.length];
            int count = 0, tLast = all[0] + 1;
            for (int t : all) {
                if (t < tLast) steps[count++] = t;
                tLast = t;
            }
            return java.util.Arrays.copyOf(steps, count);
        }
        SamplerKind kind = o.sampler();
        if (kind == SamplerKind.DDPM) {
            if (o.steps() != 0 && o.steps() != T) {
                throw new InvalidSettingException(Setting.SAMPLING_STEPS, SettingText.of("DDPM sampling visits all " + T
                        + " timesteps; ", Setting.SAMPLING_STEPS, " " + o.steps() + " needs ", Setting.SAMPLER,
                        " ddim or dpm++"));
            }
            return fromInit(o, ddpmTimesteps(T));
        }
        int steps = o.steps() == 0 ? kind.defaultSteps(T) : o.steps();
        int max = kind.maxSteps(T);
        if (steps > max || steps < 1) {
            throw Setting.SAMPLING_STEPS.invalid("must be in [1, " + max + "] for " + kind.label() + " (the model has " + T
                    + " timesteps), got " + steps);
        }
        TimestepSpacing spacing = o.spacing();
        if (spacing != null) return fromInit(o, kind == SamplerKind.DDIM ? spacing.ddim(T, steps) : spacing.dpmSolver(T, steps));
        return fromInit(o, kind == SamplerKind.DDIM ? ddimTimesteps(T, steps) : dpmSolverTimesteps(T, steps));
    }

    /** Image-to-image runs the last floor(S * strength) of a sampler's S timesteps (diffusers' img2img); else all. */
    private static int[] fromInit(SampleOptions o, int[] ts) {
        if (o.init() == null) return ts;
        int run = o.init().stepsRun(ts.length);
        if (run < 1) {
            throw Setting.STRENGTH.invalid(o.init().strength() + " runs none of the sampler's " + ts.length + " steps (it runs "
                    + "floor(steps x strength)): raise it or the steps");
        }
        return java.util.Arrays.copyOfRange(ts, ts.length - run, ts.length);
    }

    /** RePaint's steps S: the options' (1..T), or diffusers' 250 (at most T). */
    public static int repaintSteps(SampleOptions o, int T) {
        int steps = o.steps() == 0 ? Math.min(Inpainting.DEFAULT_STEPS, T) : o.steps();
        if (steps < 1 || steps > T) {
            throw Setting.SAMPLING_STEPS.invalid("must be in [1, " + T + "] for inpainting (the model has " + T
                    + " timesteps), got " + steps);
        }
        return steps;
    }

    /**
     * RePaint's schedule (Lugmayr et al. 2022), exactly as diffusers' {@code RePaintScheduler.set_timesteps(S,
     * jump_length, jump_n_sample)} for a model of T timesteps: step indices from S - 1 down to 0; at every index
     * j &lt; S - jumpLength that is a multiple of jumpLength, the first jumpSamples - 1 visits go back up
     * jumpLength indices one at a time before coming down again; each index times T // S. A value below the one
     * before it is a model step, one above it a jump back (re-noising).
     */
    public static int[] repaintTimesteps(int T, int S, int jumpLength, int jumpSamples) {
        if (S < 1 || S > T) throw new IllegalArgumentException("RePaint steps must be in [1, " + T + "], got " + S);
        if (jumpLength < 1 || jumpSamples < 1) throw new IllegalArgumentException("RePaint jumps must be >= 1");
        java.util.Map<Integer, Integer> jumps = new java.util.HashMap<>();
        for (int j = 0; j < S - jumpLength; j += jumpLength) jumps.put(j, jumpSamples - 1);
        java.util.List<Integer> out = new java.util.ArrayList<>();
        int t = S;
        while (t >= 1) {
            t -= 1;
            out.add(t);
            if (jumps.getOrDefault(t, 0) > 0) {
                jumps.put(t, jumps.get(t) - 1);
                for (int k = 0; k < jumpLength; k++) {
                    t += 1;
                    out.add(t);
                }
            }
        }
        int span = T / S;
        int[] ts = new int[out.size()];
        for (int i = 0; i < ts.length; i++) ts[i] = out.get(i) * span;
        return ts;
    }

    /** Images first .. first + n - 1 of a request: image k is picture k mod M of {@code all} (M pictures of per values). */
    private static float[] pictures(float[] all, int per, int first, int n) {
        int m = all.length / per;
        float[] out = new float[n * per];
        for (int k = 0; k < n; k++) System.arraycopy(all, ((first + k) % m) * per, out, k * per, per);
        return out;
    }

    static int[] ddpmTimesteps(int T) {
        int[] ts = new int[T];
        for (int i = 0; i < T; i++) ts[i] = T - 1 - i;
        return ts;
    }

    /**
     * DDIM's evenly spaced timesteps as the DDIM paper's code: floor(i * T / S) for
     * i = S-1 down to 0 (T = 1000, S = 50: 980, 960, ..., 0), as the native
     * ddpm::ddim_timesteps.
     */
    public static int[] ddimTimesteps(int T, int S) {
        if (S < 1 || S > T) throw new IllegalArgumentException("DDIM steps must be in [1, " + T + "], got " + S);
        int[] ts = new int[S];
        for (int i = 0; i < S; i++) ts[S - 1 - i] = (int) ((long) i * T / S);
        return ts;
    }

    /**
     * DPM-Solver++'s timesteps as diffusers' default "linspace" spacing: round(i (T-1) / S) for
     * i = S down to 1, halves to even as numpy's round (T = 1000, S = 20: 999, 949, ..., 50), as
     * the native ddpm::dpm_solver_timesteps. Its last step goes on from the smallest to x_0.
     */
    public static int[] dpmSolverTimesteps(int T, int S) {
        if (S < 1 || S > T - 1) throw new IllegalArgumentException("DPM-Solver++ steps must be in [1, " + (T - 1) + "], got " + S);
        double step = (double) (T - 1) / S;
        int[] ts = new int[S];
        for (int i = 1; i <= S; i++) ts[S - i] = i == S ? T - 1 : (int) Math.rint(i * step);
        return ts;
    }

    /** The largest visited t not above {@code midStep}, or -1 (no snapshot). */
    public static int midTime(int[] ts, int midStep) {
        if (midStep < 0) return -1;
        for (int t : ts) if (t <= midStep) return t;
        return -1;
    }

    /** Image k's label: the asked class, or the classes in turn. */
    static int[] labels(UNetConfig cfg, SampleOptions o, int first, int n) {
        int[] y = new int[n];
        for (int k = 0; k < n; k++) y[k] = o.classLabel() >= 0 ? o.classLabel() : (first + k) % cfg.numClasses();
        return y;
    }

    private static void checkClass(UNetConfig cfg, SampleOptions o) {
        if (o.classLabel() < 0) return;
        if (!cfg.conditional()) {
            throw new InvalidSettingException(Setting.CLASS, SettingText.of(
                    "the model is not class-conditional (train it with ", Setting.CONDITIONAL, " to sample a class)"));
        }
        if (o.classLabel() > cfg.numClasses()) {
            throw new IllegalArgumentException("class " + o.classLabel() + " is outside the model's " + cfg.numClasses() + " classes");
        }
    }

    /** {@link #stripTimes(int[], int, int)} of DDPM sampling. */
    static int[] stripTimes(int T, int frames) {
        return stripTimes(ddpmTimesteps(T), T, frames);
    }

    /**
     * Frame 0 is x_T (labelled T); frame f &gt;= 1 is read after the reverse step at the
     * visited timestep evenly spaced from the first to the last (t = 0).
     */
    static int[] stripTimes(int[] visited, int T, int frames) {
        int S = visited.length;
        int[] ts = new int[frames];
        ts[0] = T;
        for (int f = 1; f < frames; f++) {
            ts[f] = visited[(int) Math.round((S - 1) * ((double) (f - 1) / Math.max(1, frames - 2)))];
        }
        ts[frames - 1] = 0;
        return ts;
    }

    private static void saveStrip(float[] x, float[] strip, int stripN, int frames, int frame, int per) {
        for (int i = 0; i < stripN; i++) System.arraycopy(x, i * per, strip, (i * frames + frame) * per, per);
    }
}
