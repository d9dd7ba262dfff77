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
import org.ddpm4j.checkpoint.Configs;
import org.ddpm4j.image.ImageGrid;
import org.ddpm4j.image.PngFiles;
import org.ddpm4j.model.UNet;
import org.ddpm4j.sample.SampleOptions;
import org.ddpm4j.sample.SampleResult;
import org.ddpm4j.sample.Sampler;
import org.ddpm4j.sample.SampleFormat;
import org.ddpm4j.sample.SamplerKind;
import org.ddpm4j.sample.ImageSink;
import org.ddpm4j.image.NpzWriter;
import org.ddpm4j.image.PngFolder;
import org.ddpm4j.model.UNetConfig;
import java.util.function.BooleanSupplier;
import java.util.function.IntFunction;
import java.util.Set;
import org.ddpm4j.setting.InvalidSettingException;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.setting.SettingText;

/**
 * Samples a model into a folder: {@code samples.png} (the final images, a square
 * grid: 10x10 for the notebook's 100), {@code samples-t<mid>.png} (every image at
 * the notebook's t = 500 "mid result") and {@code strip.png} (a few images from
 * x_T on the left to x_0 on the right); and on request every image as its own PNG
 * and all of them as {@code samples.npz} (streamed: any count fits in memory).
 */
public final class SampleJob {
    private SampleJob() {}

    /** The grid shows at most this many images (the first ones); the other formats take all. */
    public static final int GRID_MAX = 400;

    /**
     * @param images the grid file (or null), the mid grid (or null), the strip (or null)
     * @param result what was sampled (the grid's images)
     * @param pngDir the folder of sample-NNNNN.png files, or null
     * @param npz the .npz file, or null
     */
    public record Result(Path images, Path mid, Path strip, SampleResult result, double seconds, Path pngDir, Path npz) {}

    /**
     * The files a run with {@code opts} and {@code formats} writes into {@code outDir} (the first of the png ones),
     * {@code visited} being its timesteps ({@link Sampler#visited}).
     */
    public static List<Path> plannedFiles(SampleOptions opts, Set<SampleFormat> formats, int[] visited, Path outDir) {
        List<Path> out = new ArrayList<>();
        if (formats.contains(SampleFormat.GRID)) {
            out.add(outDir.resolve("samples.png"));
            int mid = Sampler.midTime(visited, opts.midStep());
            if (mid >= 0) out.add(outDir.resolve("samples-t" + mid + ".png"));
            if (opts.stripImages() > 0) out.add(outDir.resolve("strip.png"));
        }
        if (formats.contains(SampleFormat.PNG)) out.add(outDir.resolve(PngFolder.name(0)));
        if (formats.contains(SampleFormat.NPZ)) out.add(outDir.resolve("samples.npz"));
        return out;
    }

    /**
     * The max batch of the model that samples {@code opts} in device batches of {@code batch} images:
     * guidance runs the conditional and the unconditional pass of each image in one batch.
     */
    public static int modelBatch(UNetConfig cfg, SampleOptions opts, int batch) {
        int chunk = Math.max(1, Math.min(batch, opts.count()));
        boolean pair = cfg.conditional() && opts.guidance() != 0 && opts.guidance() != 1;
        return pair ? 2 * chunk : chunk;
    }

    /**
     * @param nets the model with its weights loaded, on {@code backend}, sized for a max batch
     *     ({@link #modelBatch})
     * @param overwrite replace files of an earlier run in {@code outDir}; when false, such files are refused
     *     before any sampling, as is an output folder that cannot be written
     * @param listener told of the progress besides the log's lines every 10 s (may be null)
     * @param stop gives up with a CancellationException within a reverse step of turning true
     */
    public static Result run(Backend backend, IntFunction<UNet> nets, UNetConfig cfg, SampleOptions opts, int batch,
                             Path outDir, Set<SampleFormat> formats, boolean overwrite, PrintStream log,
                             Sampler.Listener listener, BooleanSupplier stop) {
        OutputFolder folder = OutputFolder.prepare(outDir, "the output folder");
        if (!overwrite) {
            int[] visited = opts.karras() ? Sampler.visited(nets.apply(modelBatch(cfg, opts, batch)), opts)
                    : Sampler.timesteps(opts, cfg.timesteps());
            for (Path p : plannedFiles(opts, formats, visited, outDir)) {
                if (Files.exists(p)) {
                    folder.removeIfUnused();
                    throw new InvalidSettingException(Setting.OUT, SettingText.of(p + " already exists (an earlier ddpm sample?); pass ",
                            Setting.FORCE, " to replace it or ", Setting.OUT, " DIR to write elsewhere"));
                }
            }
        }
        try {
            return sample(backend, nets, cfg, opts, batch, outDir, formats, log, listener, stop);
        } catch (RuntimeException | Error e) {
            folder.removeIfUnused();
            throw e;
        }
    }

    private static Result sample(Backend backend, IntFunction<UNet> nets, UNetConfig cfg, SampleOptions opts, int batch,
                                 Path outDir, Set<SampleFormat> formats, PrintStream log, Sampler.Listener listener,
                                 BooleanSupplier stop) {
        boolean grid = formats.contains(SampleFormat.GRID);
        if (!grid) opts = opts.finalsOnly();
        int keep = grid ? Math.min(opts.count(), GRID_MAX) : 0;
        int chunk = Math.max(1, Math.min(batch, opts.count()));
        UNet net = nets.apply(modelBatch(cfg, opts, batch));
        try (NpzWriter npz = formats.contains(SampleFormat.NPZ) ? new NpzWriter(outDir.resolve("samples.npz"), opts.count(),
                cfg.inChannels(), cfg.height(), cfg.width()) : null) {
            log.printf(Locale.ROOT, "sampling %d images with %s on %s (%s), batches of %d, seed %d; %s%n", opts.count(),
                    Configs.describe(cfg), backend.name(), backend.deviceName(), chunk, opts.seed(), describe(opts, cfg));
            PngFolder pngs = formats.contains(SampleFormat.PNG) ? new PngFolder(outDir) : null;
            ImageSink sink = (first, images) -> {
                if (pngs != null) pngs.accept(first, images);
                if (npz != null) npz.accept(first, images);
            };
            long t0 = System.nanoTime();
            long[] lastShown = {System.nanoTime()};
            SampleResult r = Sampler.run(net, opts, (done, total) -> {
                if (listener != null) listener.progress(done, total);
                long now = System.nanoTime();
                if (now - lastShown[0] > 10_000_000_000L) {
                    lastShown[0] = now;
                    double el = (now - t0) / 1e9;
                    log.printf(Locale.ROOT, "  %.0f%% (%.0f s, eta %.0f s)%n", 100.0 * done / total, el, el * (total - done) / done);
                }
            }, sink, keep, stop);
            if (npz != null) npz.finish();
            double seconds = (System.nanoTime() - t0) / 1e9;
            Path gridFile = grid ? outDir.resolve("samples.png") : null;
            Path mid = r.mid() == null ? null : outDir.resolve("samples-t" + r.midTime() + ".png");
            Path strip = r.strip() == null ? null : outDir.resolve("strip.png");
            try {
                if (gridFile != null) PngFiles.write(ImageGrid.square(r.images()), gridFile);
                if (mid != null) PngFiles.write(ImageGrid.square(r.mid()), mid);
                if (strip != null) PngFiles.write(ImageGrid.render(r.strip(), r.stripTimes().length, ImageGrid.BORDER), strip);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write images to " + outDir + ": " + e.getMessage(), e);
            }
            List<String> wrote = new ArrayList<>();
            if (gridFile != null) wrote.add(gridFile + (opts.count() > keep ? " (the first " + keep + ")" : ""));
            if (mid != null) wrote.add(mid + " (x at t=" + r.midTime() + ")");
            if (strip != null) wrote.add(strip + " (x_T .. x_0, t = " + times(r.stripTimes()) + ")");
            if (pngs != null) wrote.add(outDir.resolve(PngFolder.name(0)) + " .. " + PngFolder.name(opts.count() - 1));
            if (npz != null) wrote.add(outDir.resolve("samples.npz") + " (arr_0: uint8 " + opts.count() + "x"
                    + cfg.height() + "x" + cfg.width() + "x" + cfg.inChannels() + ")");
            log.printf(Locale.ROOT, "sampled in %.1f s (%.1f images/s); wrote %s%n", seconds, opts.count() / seconds,
                    String.join(", ", wrote));
            return new Result(gridFile, mid, strip, r, seconds, pngs != null ? outDir : null,
                    npz != null ? outDir.resolve("samples.npz") : null);
        }
    }

    /** The sampler in words, e.g. "DDIM, 50 steps, eta 0; class ship, guidance 2". */
    static String describe(SampleOptions o, UNetConfig cfg) {
        StringBuilder sb = new StringBuilder();
        int[] ts = Sampler.timesteps(o, cfg.timesteps());
        if (o.inpainting() != null) {
            var in = o.inpainting();
            int pictures = in.known().length / cfg.sampleSize();
            sb.append("RePaint inpainting").append(pictures > 1 ? " of " + pictures + " pictures" : "").append(" (")
                    .append(Math.round(100 * (1 - in.keptShare()))).append(pictures > 1 ? "% of them" : "% of the image")
                    .append(" painted): ");
            sb.append(Sampler.repaintSteps(o, cfg.timesteps())).append(" DDIM steps, jumping back ").append(in.jumpLength())
                    .append(" steps ").append(in.jumpSamples()).append(" times (").append(ts.length)
                    .append(" model evaluations), eta ").append(o.eta()).append(", x_0 clipped");
            return sb.toString();
        }
        sb.append(o.sampler().label().toUpperCase(Locale.ROOT)).append(", ").append(ts.length).append(" steps");
        if (o.sampler() == SamplerKind.DDIM) sb.append(", eta ").append(o.eta());
        if (o.karras()) sb.append(", Karras sigmas");
        if (o.spacing() != null) sb.append(", ").append(o.spacing().label()).append(" timesteps");
        if (o.clipX0()) sb.append(", x_0 clipped");
        if (o.init() != null) {
            int pictures = o.init().init().length / cfg.sampleSize();
            sb.append("; image-to-image").append(pictures > 1 ? " from " + pictures + " pictures" : "").append(" at strength ")
                    .append(o.init().strength()).append(" (from t = ").append(ts[0]).append(")");
        }
        if (cfg.conditional()) {
            sb.append("; ").append(o.classLabel() < 0 ? "classes in turn" : o.classLabel() == cfg.numClasses() ? "null class"
                    : "class " + o.classLabel()).append(", guidance ").append(o.guidance());
        }
        return sb.toString();
    }

    private static String times(int[] ts) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < ts.length; i++) sb.append(i == 0 ? "" : ",").append(ts[i]);
        return sb.toString();
    }
}
