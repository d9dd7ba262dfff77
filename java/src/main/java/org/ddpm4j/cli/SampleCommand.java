package org.ddpm4j.cli;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import java.util.Set;
import java.util.concurrent.Callable;
import org.ddpm4j.api.DiffusionModel;
import org.ddpm4j.api.InvalidInputException;
import org.ddpm4j.api.SampleFiles;
import org.ddpm4j.api.SampleRequest;
import org.ddpm4j.data.DataException;
import org.ddpm4j.data.ImageFolderReader;
import org.ddpm4j.sample.ImageToImage;
import org.ddpm4j.sample.SampleFormat;
import org.ddpm4j.sample.SamplerKind;
import org.ddpm4j.sample.TimestepSpacing;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "sample", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Draw images from a trained model by ancestral DDPM sampling (BatchNorm in eval mode, final images clipped to [-1, 1]),",
                "or in fewer steps by DDIM or DPM-Solver++ (--sampler ddim|dpm++|dpm++sde); from the EMA weights when the model keeps them (--weights).",
                "Writes OUT/samples.png (a 10x10 grid for 100 images), OUT/samples-t500.png (x at t = 500, the notebook's mid result; T/2 in general)",
                "and OUT/strip.png (a few images from x_T to x_0); with --format png,npz also OUT/sample-00000.png ... and OUT/samples.npz.",
                "A class-conditional model draws --class NAME (or every class in turn) with classifier-free guidance --guidance W.",
                "--inpaint IMAGE --mask MASK paints every image into IMAGE where MASK is white (RePaint, as diffusers' RePaintPipeline);",
                "--init IMAGE --strength S redraws IMAGE (image-to-image, SDEdit).",
                "The same --seed gives the same images."})
public final class SampleCommand implements Callable<Integer> {
    private final Io io;

    @Option(names = "--from", required = true, paramLabel = "FILE", description = "A ddpm4j checkpoint or a seed-format safetensors file.")
    Path from;

    @Option(names = "--out", paramLabel = "DIR", description = "Output folder (default: the model's folder/samples).")
    Path out;

    @Option(names = "--count", paramLabel = "N", defaultValue = "100", description = "Images to draw (default: ${DEFAULT-VALUE}).")
    int count;

    @Option(names = "--batch", paramLabel = "N", defaultValue = "100", description = "Images per device batch (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--mid-step", paramLabel = "T", description = "Also save every image at this t (default: T/2, i.e. 500); -1 = off.")
    Integer midStep;

    @Option(names = "--strip-images", paramLabel = "N", defaultValue = "8", description = "Images in the x_T..x_0 strip, 0 = no strip (default: ${DEFAULT-VALUE}).")
    int stripImages;

    @Option(names = "--strip-frames", paramLabel = "N", defaultValue = "11", description = "Frames per strip row (default: ${DEFAULT-VALUE}).")
    int stripFrames;

    @Option(names = "--force", description = "Replace the images of an earlier ddpm sample in --out (default: refuse).")
    boolean force;

    @Option(names = "--sampler", paramLabel = "ddpm|ddim|dpm++|dpm++sde|dpm++3m", converter = Converters.SamplerConverter.class, defaultValue = "ddpm",
            description = "ddpm: ancestral sampling through all T steps (the notebook's); ddim: Song et al. 2021 over --sampling-steps evenly spaced steps; "
                    + "dpm++: DPM-Solver++ 2M (Lu et al. 2022) as diffusers' DPMSolverMultistepScheduler, good images in 15-25 steps; dpm++sde: its SDE variant; dpm++3m: third order (DPM++ 3M, diffusers' recommendation for unconditional models) (default: ${DEFAULT-VALUE}).")
    SamplerKind sampler;

    @Option(names = {"--sampling-steps", "--steps"}, paramLabel = "N", description = "DDIM steps, 1..T (default 50); DPM-Solver++ steps, 1..T-1 (default 20); ddpm always takes all T.")
    Integer samplingSteps;

    @Option(names = "--karras", description = "DPM-Solver++ (dpm++, dpm++sde, dpm++3m): step between Karras et al.'s noise levels (sigma^(1/7) evenly spaced, denser at low noise), as diffusers' use_karras_sigmas, \"DPM++ 2M Karras\" (default off: evenly spaced timesteps).")
    boolean karras;

    @Option(names = "--timestep-spacing", paramLabel = "linspace|leading|trailing", converter = Converters.TimestepSpacingConverter.class,
            description = "The timesteps ddim or dpm++ visit, as diffusers' timestep_spacing: linspace (evenly over [0, T-1]), leading (multiples of a whole step ratio), trailing (back from T-1 in steps of T/S) (default: the sampler's own: ddim floor(i T / S), as the DDIM paper's code; dpm++ linspace).")
    TimestepSpacing timestepSpacing;

    @Option(names = "--eta", paramLabel = "E", description = "DDIM noise: 0 deterministic, 1 as noisy as DDPM's posterior (default 0; with --inpaint 1).")
    Double eta;

    @Option(names = "--clip-x0", description = "Clip the predicted x_0 to [-1, 1] at every step: DDIM as diffusers' clip_sample; DDPM then steps through the posterior q(x_t-1 | x_t, x_0) as improved-diffusion's clip_denoised; DPM-Solver++ integrates the clipped prediction. Keeps cosine-schedule models stable (default off, the notebook's sampler).")
    boolean clipX0;

    @Option(names = "--class", paramLabel = "NAME", description = "Class-conditional models: the class to draw, by name (ship) or label number; 'none' = unconditional (default: every class in turn, image k of class k mod classes).")
    String className;

    @Option(names = "--guidance", paramLabel = "W", description = "Classifier-free guidance scale: eps = eps_null + W (eps_class - eps_null); 1 = the conditional model alone, 0 = unconditional (default 2).")
    Double guidance;

    @Option(names = "--inpaint", paramLabel = "IMAGE", description = "Inpaint this PNG or JPEG (the model's size; a folder: each of its pictures, image k of the run the k-th mod their number) by RePaint (Lugmayr et al. 2022), as diffusers' RePaintPipeline: every image keeps IMAGE where --mask is black and paints where it is white. Runs RePaint's DDIM steps (--sampling-steps, default 250; --eta, default 1, the RePaint paper's DDPM noise; x_0 clipped to [-1, 1]) with jumps back (--jump-length, --jump-samples).")
    Path inpaint;

    @Option(names = "--mask", paramLabel = "MASK", description = "With --inpaint: a PNG or JPEG of the model's size (or a folder with one per picture, in name order), white where the image is painted, black where it is kept (grey blends; its luminance counts).")
    Path mask;

    @Option(names = "--init", paramLabel = "IMAGE", description = "Image-to-image (SDEdit, as diffusers' img2img): every image starts from this PNG or JPEG (the model's size; a folder: image k of the run from its k-th picture mod their number) noised part of the way and runs the rest of the sampler's steps, keeping its layout and colours; --strength says how far.")
    Path init;

    @Option(names = "--strength", paramLabel = "S", description = "With --init: of the sampler's steps, the last floor(steps x S) are run, S in (0, 1] (1 = from pure noise; default 0.3: the linear schedule keeps 63%% of the picture's amplitude at t = 0.3 T, 4%% at diffusers' 0.8).")
    Double strength;

    @Option(names = "--resize", arity = "0..1", fallbackValue = "crop", paramLabel = "crop|stretch|none",
            converter = Converters.ResizeConverter.class,
            description = "--inpaint, --mask and --init pictures that are not the model's size: crop (alone, --resize means crop) scales their centred square, stretch the whole picture, both with Pillow's antialiased bilinear filter; none (the default) refuses them.")
    org.ddpm4j.data.Resize resize;

    @Option(names = "--jump-length", paramLabel = "J", description = "RePaint: how many steps each jump goes back (diffusers' jump_length, default 10).")
    Integer jumpLength;

    @Option(names = "--jump-samples", paramLabel = "R", description = "RePaint: how many times each jump is made, 1 = no jumps (diffusers' jump_n_sample, default 10).")
    Integer jumpSamples;

    @Option(names = "--format", paramLabel = "LIST", defaultValue = "grid",
            description = "What to write, comma-separated: grid (samples.png, samples-tNNN.png, strip.png; at most the first 400 images), png (sample-00000.png ... one file per image), npz (samples.npz, arr_0 uint8 N x H x W x C, as FID/IS evaluators read it). png and npz are written as the batches finish, so --count 50000 fits in memory (default: ${DEFAULT-VALUE}).")
    String format;

    @Mixin WeightChoiceOptions choice;
    @Mixin WeightsOptions weights;
    @Mixin CommonOptions common;

    SampleCommand(Io io) {
        this.io = io;
    }

    @Override
    public Integer call() {
        Set<SampleFormat> formats = formats();
        SampleRequest req = SampleRequest.of(count).withBatch(batch).withSeed(common.seedOr(0))
                .withStrip(stripImages, stripFrames).withClipX0(clipX0).withClass(className).withLog(io.err());
        if (karras) req = req.withKarras(true);
        if (timestepSpacing != null) req = req.withTimestepSpacing(timestepSpacing);
        // Inpainting runs DDIM steps: --sampling-steps counts them unless another sampler was named.
        SamplerKind kind = inpaint != null && sampler == SamplerKind.DDPM ? SamplerKind.DDIM : sampler;
        req = samplingSteps != null ? req.withSampler(kind, samplingSteps) : req.withSampler(kind);
        if (inpaint != null || mask != null) req = req.withInpainting(pictures(inpaint, "--inpaint"), pictures(mask, "--mask"));
        if (resize != null) {
            if (init == null && inpaint == null) throw new InvalidInputException("--resize is for --inpaint and --init pictures");
            req = req.withResize(resize);
        }
        if (init != null) req = req.withInitImages(pictures(init, "--init"), strength != null ? strength : ImageToImage.DEFAULT_STRENGTH);
        else if (strength != null) throw new InvalidInputException("--strength is for --init");
        if (jumpLength != null || jumpSamples != null) {
            if (inpaint == null) throw new InvalidInputException("--jump-length and --jump-samples are for --inpaint");
            req = req.withRepaintJumps(jumpLength != null ? jumpLength : 10, jumpSamples != null ? jumpSamples : 10);
        }
        if (eta != null) req = req.withEta(eta);
        if (guidance != null) req = req.withGuidance(guidance);
        if (midStep != null) req = req.withMidStep(midStep);
        try (DiffusionModel model = DiffusionModel.load(from, common.compute(), weights.loadOptions(choice.weights))) {
            Path dir = out != null ? out : defaultOut(from);
            SampleFiles r = model.writeSamples(req, dir, formats, force);
            if (r.grid() != null) io.out().println("samples: " + r.grid());
            if (r.midGrid() != null) io.out().println("mid (t=" + r.midStep() + "): " + r.midGrid());
            if (r.strip() != null) io.out().println("strip: " + r.strip());
            if (r.pngFolder() != null) io.out().println("images: " + r.pngFile(0) + " .. " + r.pngFile(count - 1).getFileName());
            if (r.npz() != null) io.out().println("npz: " + r.npz());
        }
        return 0;
    }


    /**
     * The pictures a flag names: a PNG or JPEG, or every one in a folder (sorted by name); null stays null
     * (SampleRequest names what is missing).
     */
    private static List<BufferedImage> pictures(Path path, String flag) {
        if (path == null) return null;
        if (!Files.isDirectory(path)) return List.of(picture(path, flag));
        List<Path> files;
        try (Stream<Path> s = Files.list(path)) {
            files = s.filter(f -> f.getFileName().toString().toLowerCase(Locale.ROOT).matches(".*\\.(png|jpe?g)") && Files.isRegularFile(f))
                    .sorted().toList();
        } catch (IOException e) {
            throw new InvalidInputException(flag + " " + path + " cannot be listed: " + e.getMessage());
        }
        if (files.isEmpty()) throw new InvalidInputException(flag + " " + path + " holds no PNG or JPEG");
        List<BufferedImage> out = new ArrayList<>();
        for (Path f : files) out.add(picture(f, flag));
        return out;
    }

    /** A PNG or JPEG named by a flag, decoded as training's image folders are (bounded size, damage named). */
    private static BufferedImage picture(Path file, String flag) {
        if (!Files.isRegularFile(file)) throw new InvalidInputException(flag + " " + file + ": no such file");
        try {
            return ImageFolderReader.readPicture(file);
        } catch (DataException e) {
            throw new InvalidInputException(flag + ": " + e.getMessage());
        }
    }

    private Set<SampleFormat> formats() {
        try {
            return SampleFormat.parseList(format);
        } catch (IllegalArgumentException e) {
            throw new InvalidInputException(Main.inFlags(e));
        }
    }

    private static Path defaultOut(Path from) {
        Path parent = from.toAbsolutePath().normalize().getParent();
        return (parent != null ? parent : Path.of(".")).resolve("samples");
    }
}
