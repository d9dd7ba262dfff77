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
import org.ddpm4j.checkpoint.ModelState;
import org.ddpm4j.image.ImageGrid;
import org.ddpm4j.image.PngFiles;
import org.ddpm4j.model.UNet;
import org.ddpm4j.sample.SampleOptions;
import org.ddpm4j.sample.SampleResult;
import org.ddpm4j.sample.Sampler;

/**
 * Samples a model into a folder: {@code samples.png} (the final images, a square
 * grid: 10x10 for the notebook's 100), {@code samples-t<mid>.png} (every image at
 * the notebook's t = 500 "mid result") and {@code strip.png} (a few images from
 * x_T on the left to x_0 on the right).
 */
public final class SampleJob {
    private SampleJob() {}

    /**
     * @param images the grid file, the mid grid (or null), the strip (or null)
     * @param result what was sampled
     */
    public record Result(Path images, Path mid, Path strip, SampleResult result, double seconds) {}

    public static Result run(Backend backend, ModelState state, SampleOptions opts, int batch, Path outDir, PrintStream log) {
        return run(backend, state, opts, batch, outDir, true, log);
    }

    /** The files a run with {@code opts} writes into {@code outDir}. */
    public static List<Path> plannedFiles(SampleOptions opts, Path outDir) {
        List<Path> out = new ArrayList<>();
        out.add(outDir.resolve("samples.png"));
        if (opts.midStep() >= 0) out.add(outDir.resolve("samples-t" + opts.midStep() + ".png"));
        if (opts.stripImages() > 0) out.add(outDir.resolve("strip.png"));
        return out;
    }

    /**
     * @param overwrite replace files of an earlier run in {@code outDir}; when false, such files are refused
     *     before any sampling, as is an output folder that cannot be written
     */
    public static Result run(Backend backend, ModelState state, SampleOptions opts, int batch, Path outDir, boolean overwrite,
                             PrintStream log) {
        OutputFolder folder = OutputFolder.prepare(outDir, "the output folder");
        if (!overwrite) {
            for (Path p : plannedFiles(opts, outDir)) {
                if (Files.exists(p)) {
                    folder.removeIfUnused();
                    throw new IllegalArgumentException(p + " already exists (an earlier ddpm sample?); pass --force to replace it "
                            + "or --out DIR to write elsewhere");
                }
            }
        }
        try {
            return sample(backend, state, opts, batch, outDir, log);
        } catch (RuntimeException | Error e) {
            folder.removeIfUnused();
            throw e;
        }
    }

    private static Result sample(Backend backend, ModelState state, SampleOptions opts, int batch, Path outDir, PrintStream log) {
        int chunk = Math.max(1, Math.min(batch, opts.count()));
        try (UNet net = backend.createUNet(state.config(), chunk)) {
            state.applyTo(net);
            log.printf(Locale.ROOT, "sampling %d images with %s on %s (%s), batches of %d, seed %d%n", opts.count(),
                    Configs.describe(state.config()), backend.name(), backend.deviceName(), chunk, opts.seed());
            long t0 = System.nanoTime();
            long[] lastShown = {System.nanoTime()};
            SampleResult r = Sampler.run(net, opts, (done, total) -> {
                long now = System.nanoTime();
                if (now - lastShown[0] > 10_000_000_000L) {
                    lastShown[0] = now;
                    double el = (now - t0) / 1e9;
                    log.printf(Locale.ROOT, "  %.0f%% (%.0f s, eta %.0f s)%n", 100.0 * done / total, el, el * (total - done) / done);
                }
            });
            double seconds = (System.nanoTime() - t0) / 1e9;
            Path grid = outDir.resolve("samples.png");
            Path mid = r.mid() == null ? null : outDir.resolve("samples-t" + opts.midStep() + ".png");
            Path strip = r.strip() == null ? null : outDir.resolve("strip.png");
            try {
                PngFiles.write(ImageGrid.square(r.images()), grid);
                if (mid != null) PngFiles.write(ImageGrid.square(r.mid()), mid);
                if (strip != null) PngFiles.write(ImageGrid.render(r.strip(), r.stripTimes().length, ImageGrid.BORDER), strip);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write images to " + outDir + ": " + e.getMessage(), e);
            }
            List<String> wrote = new ArrayList<>();
            wrote.add(grid.toString());
            if (mid != null) wrote.add(mid + " (x at t=" + opts.midStep() + ")");
            if (strip != null) wrote.add(strip + " (x_T .. x_0, t = " + times(r.stripTimes()) + ")");
            log.printf(Locale.ROOT, "sampled in %.1f s (%.1f images/s); wrote %s%n", seconds, opts.count() / seconds,
                    String.join(", ", wrote));
            return new Result(grid, mid, strip, r, seconds);
        }
    }

    private static String times(int[] ts) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < ts.length; i++) sb.append(i == 0 ? "" : ",").append(ts[i]);
        return sb.toString();
    }
}
