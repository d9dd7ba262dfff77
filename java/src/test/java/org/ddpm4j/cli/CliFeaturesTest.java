package org.ddpm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.ZipInputStream;
import org.ddpm4j.checkpoint.Checkpoint;
import org.ddpm4j.checkpoint.CheckpointFile;
import org.ddpm4j.diffusion.NoiseSchedule;
import org.ddpm4j.testing.Cli;
import org.ddpm4j.testing.TestData;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The features beyond the notebook from the command line, on the CPU at a tiny size:
 * a conditional cosine-schedule model with an EMA, DDIM sampling of one class with
 * guidance into every format, export of either set of weights, and the errors.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class CliFeaturesTest {
    @TempDir
    static Path dir;

    static final String[] TINY = {"--base-width", "4", "--timesteps", "40", "--batch", "16", "--device", "cpu", "--threads", "2"};

    static Cli.Result ok(String... a) {
        Cli.Result r = Cli.run(a);
        assertEquals(0, r.code(), r.toString());
        return r;
    }

    static void fails(String expected, String... args) {
        CliErrorTest.fails(expected, args);
    }

    static Path model() {
        return dir.resolve("cond/model.ckpt");
    }

    @Test
    @Order(1)
    void trainsAConditionalCosineModelWithAnEma() {
        String[] a = {"train", "--out", dir.resolve("cond").toString(), "--conditional", "--schedule", "cosine", "--ema-decay",
                "0.99", "--ema-power", "0.75", "--cond-drop", "0.2", "--steps", "6", "--limit", "96", "--sample-every", "0", "--progress", "none",
                "--lr-schedule", "cosine", "--lr-warmup", "2", "--max-grad-norm", "1", "--snr-gamma", "5", "--optimizer", "adamw",
                "--adam-beta1", "0.95", "--weight-decay", "1e-6", "--cifar-dir", TestData.syntheticCifar().toString()};
        String[] all = new String[a.length + TINY.length];
        System.arraycopy(a, 0, all, 0, a.length);
        System.arraycopy(TINY, 0, all, a.length, TINY.length);
        Cli.Result r = ok(all);
        assertTrue(r.err().contains("cosine schedule, conditional on 10 classes"), r.toString());
        assertTrue(r.err().contains("EMA decay 0.99 (warm-up power 0.75)") && r.err().contains("label dropout 0.2"), r.toString());
        assertTrue(r.err().contains("(cosine to 0 at step 6 after 2 warm-up steps), AdamW (betas 0.95/0.999, eps 1E-8, "
                + "weight decay 0.000001), gradients clipped to norm 1.0, Min-SNR-5.0 loss weighting"), r.toString());
        Checkpoint c = CheckpointFile.read(model());
        assertEquals(new org.ddpm4j.optim.AdamConfig(1e-3, 0.95, 0.999, 1e-8, 1e-6, org.ddpm4j.optim.Optimizer.ADAMW),
                c.meta().training().adam());
        assertEquals(new org.ddpm4j.optim.LrSchedule(org.ddpm4j.optim.LrSchedule.Kind.COSINE, 2, 6), c.meta().training().lrSchedule());
        // The loss log holds each step's scheduled rate (0 and half of 1e-3 in the warm-up, 1e-3 after it, then the
        // decay) and its gradient norm before clipping.
        java.util.List<String> log;
        try {
            log = Files.readAllLines(dir.resolve("cond/loss.jsonl"));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        assertEquals(6, log.size());
        assertTrue(log.get(0).contains(",\"lr\":0.0,\"grad_norm\":") && log.get(1).contains(",\"lr\":5.0E-4,")
                && log.get(2).contains(",\"lr\":0.001,"), String.join("\n", log));
        for (String line : log) {
            double norm = Double.parseDouble(line.replaceAll(".*\"grad_norm\":([^,}]*)}.*", "$1"));
            assertTrue(norm > 0 && Double.isFinite(norm), line);
        }
        assertEquals(NoiseSchedule.COSINE, c.meta().model().schedule());
        assertEquals(10, c.meta().model().numClasses());
        assertTrue(c.model().hasEma());
        assertEquals(0.75, c.meta().training().emaPower());
        assertEquals("ship", c.meta().classNames().get(8));
    }

    @Test
    @Order(2)
    void samplesOneClassWithDdimIntoEveryFormat() throws Exception {
        Path out = dir.resolve("s");
        Cli.Result r = ok("sample", "--from", model().toString(), "--out", out.toString(), "--count", "12", "--batch", "5",
                "--sampler", "ddim", "--sampling-steps", "8", "--eta", "0.5", "--class", "ship", "--guidance", "3",
                "--format", "grid,png,npz", "--device", "cpu");
        assertTrue(r.err().contains("weights: ema"), r.toString());
        assertTrue(r.err().contains("DDIM, 8 steps, eta 0.5; class 8, guidance 3.0"), r.toString());
        assertTrue(r.out().contains("npz: " + out.resolve("samples.npz")), r.toString());
        assertTrue(Files.exists(out.resolve("samples.png")));
        assertTrue(Files.exists(out.resolve("sample-00000.png")) && Files.exists(out.resolve("sample-00011.png")));
        assertFalse(Files.exists(out.resolve("sample-00012.png")));
        try (ZipInputStream z = new ZipInputStream(Files.newInputStream(out.resolve("samples.npz")))) {
            assertEquals("arr_0.npy", z.getNextEntry().getName());
            byte[] npy = z.readAllBytes();
            String header = new String(npy, 10, 70, java.nio.charset.StandardCharsets.US_ASCII);
            assertTrue(header.contains("'shape': (12, 32, 32, 3)"), header);
        }
        // png only: no grid; the same seed gives the same files whatever the batch.
        Path only = dir.resolve("p");
        ok("sample", "--from", model().toString(), "--out", only.toString(), "--count", "12", "--batch", "12", "--sampler",
                "ddim", "--sampling-steps", "8", "--eta", "0.5", "--class", "8", "--guidance", "3", "--format", "png",
                "--device", "cpu");
        assertFalse(Files.exists(only.resolve("samples.png")));
        assertArrayEquals(Files.readAllBytes(out.resolve("sample-00007.png")), Files.readAllBytes(only.resolve("sample-00007.png")));
        // DPM-Solver++ (and its SDE variant) by name, default steps.
        Path dpm = dir.resolve("dpm");
        r = ok("sample", "--from", model().toString(), "--out", dpm.toString(), "--count", "4", "--sampler", "dpm++sde",
                "--class", "ship", "--device", "cpu");
        assertTrue(r.err().contains("DPM++SDE, 20 steps; class 8, guidance 2.0"), r.toString());
        assertTrue(Files.exists(dpm.resolve("samples.png")) && Files.exists(dpm.resolve("strip.png")));
        // Karras sigmas ("DPM++ 2M Karras"): the mid grid at the largest visited timestep <= 20 of the
        // 40-step model's Karras levels, which are not the evenly spaced ones.
        Path karras = dir.resolve("karras");
        r = ok("sample", "--from", model().toString(), "--out", karras.toString(), "--count", "4", "--sampler", "dpm++",
                "--sampling-steps", "10", "--karras", "--mid-step", "20", "--device", "cpu");
        assertTrue(r.err().contains("DPM++, 10 steps, Karras sigmas"), r.toString());
        int[] levels;
        try (var be = org.ddpm4j.binding.Backends.cpu(1);
             var net = be.createUNet(CheckpointFile.read(model()).meta().model(), 1)) {
            levels = net.karrasLevels(10).timesteps();
        }
        int mid = org.ddpm4j.sample.Sampler.midTime(levels, 20);
        assertTrue(mid >= 0 && mid != 20, java.util.Arrays.toString(levels));
        assertTrue(Files.exists(karras.resolve("samples-t" + mid + ".png")), r.toString());
        assertTrue(r.out().contains("mid (t=" + mid + ")"), r.toString());
        // diffusers' trailing spacing: 10 DDIM steps of the 40-step model from t = 39, the mid grid at 19.
        Path trailing = dir.resolve("trailing");
        r = ok("sample", "--from", model().toString(), "--out", trailing.toString(), "--count", "4", "--sampler", "ddim",
                "--sampling-steps", "10", "--timestep-spacing", "trailing", "--mid-step", "20", "--device", "cpu");
        assertTrue(r.err().contains("DDIM, 10 steps, eta 0.0, trailing timesteps"), r.toString());
        assertTrue(Files.exists(trailing.resolve("samples-t19.png")), r.toString());
    }

    @Test
    @Order(3)
    void drawsTheTrainingGridsWithTheGridSampler() {
        Path out = dir.resolve("grid");
        String[] a = {"train", "--out", out.toString(), "--epochs", "1", "--limit", "32", "--sample-every", "1", "--grid-sampler",
                "dpm++sde", "--progress", "plain", "--cifar-dir", TestData.syntheticCifar().toString()};
        String[] all = new String[a.length + TINY.length];
        System.arraycopy(a, 0, all, 0, a.length);
        System.arraycopy(TINY, 0, all, a.length, TINY.length);
        Cli.Result r = ok(all);
        assertTrue(r.err().contains("sampling a grid of 100 images (dpm++sde, 20 steps each)"), r.toString());
        assertTrue(Files.exists(out.resolve("samples/epoch-001.png")), r.toString());
        assertEquals(org.ddpm4j.sample.SamplerKind.DPM_SOLVER_SDE, CheckpointFile.read(out.resolve("model.ckpt")).meta().training().gridSampler());
        assertFalse(CheckpointFile.read(out.resolve("model.ckpt")).meta().training().gridKarras());
        // Resumed for one more epoch with the grids over Karras sigmas (the grid sampler may change on a resume).
        Cli.Result k = ok("train", "--resume", "--out", out.toString(), "--epochs", "2", "--grid-karras", "--progress", "plain",
                "--device", "cpu", "--threads", "2");
        assertTrue(k.err().contains("sampling a grid of 100 images (dpm++sde, 20 steps each, Karras sigmas)"), k.toString());
        assertTrue(Files.exists(out.resolve("samples/epoch-002.png")), k.toString());
        assertTrue(CheckpointFile.read(out.resolve("model.ckpt")).meta().training().gridKarras());
    }

    @Test
    @Order(4)
    void exportsTheEmaOrTheRawWeights() {
        Path ema = dir.resolve("ema.safetensors"), raw = dir.resolve("raw.safetensors");
        assertTrue(ok("export", "--from", model().toString(), "--out", ema.toString()).out().contains("(ema weights)"));
        assertTrue(ok("export", "--from", model().toString(), "--out", raw.toString(), "--weights", "raw").out().contains("(raw weights)"));
        Checkpoint c = CheckpointFile.read(model());
        try (var be = org.ddpm4j.binding.Backends.cpu(1)) {
            var fallback = org.ddpm4j.model.UNetConfig.seed();
            var e = org.ddpm4j.job.ModelFiles.readSafetensors(ema, fallback);
            var r = org.ddpm4j.job.ModelFiles.readSafetensors(raw, fallback);
            assertArrayEquals(c.model().emaParams(), e.params());
            assertArrayEquals(c.model().emaBuffers(), e.buffers());
            assertArrayEquals(c.model().params(), r.params());
            assertArrayEquals(c.model().buffers(), r.buffers());
        }
    }

    /** ddpm sample --inpaint IMAGE --mask MASK: every image keeps IMAGE where MASK is black. */
    @Test
    @Order(4)
    void inpaintsAnImageFromTheCommandLine() throws Exception {
        java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(32, 32, java.awt.image.BufferedImage.TYPE_INT_RGB);
        java.awt.image.BufferedImage mask = new java.awt.image.BufferedImage(32, 32, java.awt.image.BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 32; x++) {
                img.setRGB(x, y, (x * 7) << 16 | (y * 5) << 8 | 200);
                if (y >= 16) mask.getRaster().setSample(x, y, 0, 255);  // the bottom half painted
            }
        }
        Path known = dir.resolve("known.png"), m = dir.resolve("mask.png"), out = dir.resolve("inpainted");
        javax.imageio.ImageIO.write(img, "png", known.toFile());
        javax.imageio.ImageIO.write(mask, "png", m.toFile());
        Cli.Result r = ok("sample", "--from", model().toString(), "--inpaint", known.toString(), "--mask", m.toString(), "--count", "2",
                "--sampling-steps", "8", "--jump-length", "2", "--jump-samples", "2", "--format", "grid,png", "--out", out.toString(),
                "--device", "cpu", "--threads", "2");
        assertTrue(r.err().contains("RePaint inpainting (50% of the image painted): 8 DDIM steps, jumping back 2 steps 2 times "
                + "(14 model evaluations), eta 1.0, x_0 clipped"), r.toString());
        for (int k = 0; k < 2; k++) {
            java.awt.image.BufferedImage s = javax.imageio.ImageIO.read(out.resolve(String.format("sample-%05d.png", k)).toFile());
            for (int y = 0; y < 16; y++)
                for (int x = 0; x < 32; x++) assertEquals(img.getRGB(x, y) & 0xffffff, s.getRGB(x, y) & 0xffffff, "image " + k + " " + x + "," + y);
        }
        // A folder of pictures: image k inpaints the k-th (mod their number), here with one mask for all.
        Path folder = dir.resolve("pictures");
        Files.createDirectories(folder);
        java.awt.image.BufferedImage other = new java.awt.image.BufferedImage(32, 32, java.awt.image.BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 32; y++) for (int x = 0; x < 32; x++) other.setRGB(x, y, 0x204060 + x);
        javax.imageio.ImageIO.write(img, "png", folder.resolve("a.png").toFile());
        javax.imageio.ImageIO.write(other, "png", folder.resolve("b.png").toFile());
        Path many = dir.resolve("inpainted-many");
        r = ok("sample", "--from", model().toString(), "--inpaint", folder.toString(), "--mask", m.toString(), "--count", "3",
                "--sampling-steps", "4", "--jump-samples", "1", "--format", "png", "--out", many.toString(), "--device", "cpu");
        assertTrue(r.err().contains("RePaint inpainting of 2 pictures (50% of them painted)"), r.toString());
        for (int k = 0; k < 3; k++) {
            java.awt.image.BufferedImage want = k % 2 == 0 ? img : other;
            java.awt.image.BufferedImage s = javax.imageio.ImageIO.read(many.resolve(String.format("sample-%05d.png", k)).toFile());
            for (int y = 0; y < 16; y++)
                for (int x = 0; x < 32; x++) assertEquals(want.getRGB(x, y) & 0xffffff, s.getRGB(x, y) & 0xffffff, "image " + k + " " + x + "," + y);
        }
        fails("--inpaint " + dir.resolve("x") + " holds no PNG or JPEG", "sample", "--from", model().toString(), "--inpaint",
                Files.createDirectories(dir.resolve("x")).toString(), "--mask", m.toString(), "--device", "cpu", "--out", dir.resolve("y").toString());
        Path bad = dir.resolve("bad.png");
        Files.write(bad, new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
        fails("--inpaint: image " + bad + " is not a readable PNG or JPEG", "sample", "--from", model().toString(), "--inpaint",
                bad.toString(), "--mask", m.toString(), "--device", "cpu", "--out", dir.resolve("y").toString());
        fails("--mask is missing: inpainting needs an image and a mask", "sample", "--from", model().toString(), "--inpaint",
                known.toString(), "--device", "cpu", "--out", dir.resolve("x").toString());
        fails("--inpaint " + dir.resolve("nope.png") + ": no such file", "sample", "--from", model().toString(), "--inpaint",
                dir.resolve("nope.png").toString(), "--mask", m.toString(), "--device", "cpu", "--out", dir.resolve("x").toString());
        fails("--inpaint runs RePaint's own DDIM steps: not with --sampler dpm++", "sample", "--from", model().toString(), "--inpaint",
                known.toString(), "--mask", m.toString(), "--sampler", "dpm++", "--device", "cpu", "--out", dir.resolve("x").toString());
        // Image-to-image: DDIM's last 5 of 10 steps from the picture.
        r = ok("sample", "--from", model().toString(), "--init", known.toString(), "--strength", "0.5", "--sampler", "ddim",
                "--sampling-steps", "10", "--count", "2", "--out", dir.resolve("img2img").toString(), "--device", "cpu");
        assertTrue(r.err().contains("DDIM, 5 steps") && r.err().contains("image-to-image at strength 0.5 (from t = 16)"), r.toString());
        fails("--strength must be in (0, 1], got 1.5", "sample", "--from", model().toString(), "--init", known.toString(), "--strength",
                "1.5", "--device", "cpu", "--out", dir.resolve("x").toString());
        fails("--init and --inpaint exclude each other", "sample", "--from", model().toString(), "--init", known.toString(),
                "--inpaint", known.toString(), "--mask", m.toString(), "--device", "cpu", "--out", dir.resolve("x").toString());
        fails("--strength is for --init", "sample", "--from", model().toString(), "--strength", "0.5", "--device", "cpu",
                "--out", dir.resolve("x").toString());
        fails("--jump-length and --jump-samples are for --inpaint", "sample", "--from", model().toString(), "--jump-length", "3",
                "--device", "cpu", "--out", dir.resolve("x").toString());
    }

    @Test
    @Order(5)
    void featureErrorsAreOneLine() throws Exception {
        String m = model().toString();
        fails("--schedule must be linear or cosine, got 'sigmoid'", "train", "--schedule", "sigmoid");
        fails("--lr-schedule must be constant, cosine or linear, got 'step'", "train", "--lr-schedule", "step");
        fails("--grid-steps must be in [1, 39] for dpm++ (the model has 40 timesteps), got 40", "train", "--grid-sampler", "dpm++",
                "--grid-steps", "40", "--timesteps", "40", "--limit", "32", "--device", "cpu", "--out", dir.resolve("g").toString(),
                "--cifar-dir", TestData.syntheticCifar().toString());
        fails("--grid-steps with --grid-sampler ddpm must be 40 (every timestep) or unset, got 10", "train", "--grid-steps", "10",
                "--timesteps", "40", "--limit", "32", "--device", "cpu", "--out", dir.resolve("g").toString(),
                "--cifar-dir", TestData.syntheticCifar().toString());
        fails("--snr-gamma must be a number >= 0 (0 = off), got -5.0", "train", "--snr-gamma", "-5", "--device", "cpu",
                "--out", dir.resolve("z").toString());
        fails("--max-grad-norm must be a number >= 0 (0 = off), got -1.0", "train", "--max-grad-norm", "-1", "--device", "cpu",
                "--out", dir.resolve("z").toString());
        fails("--lr-decay-steps must be beyond the warm-up's 10 steps, got 5", "train", "--lr-schedule", "linear", "--lr-warmup",
                "10", "--lr-decay-steps", "5", "--device", "cpu", "--out", dir.resolve("y").toString());
        fails("--lr-schedule linear (the run has cosine): a resumed run keeps", "train", "--resume", "--out", dir.resolve("cond").toString(), "--lr-schedule", "linear",
                "--device", "cpu");
        fails("--optimizer adam (the run has adamw): a resumed run keeps", "train", "--resume", "--out", dir.resolve("cond").toString(),
                "--optimizer", "adam", "--device", "cpu");
        fails("--weight-decay 0.0 (the run has 1.0E-6): a resumed run keeps", "train", "--resume", "--out",
                dir.resolve("cond").toString(), "--weight-decay", "0", "--device", "cpu");
        fails("--optimizer must be adam or adamw, got 'sgd'", "train", "--optimizer", "sgd");
        fails("--adam-beta1 must be in [0, 1), got 1.0", "train", "--adam-beta1", "1", "--device", "cpu", "--out",
                dir.resolve("x").toString());
        fails("--adam-beta2 must be in [0, 1), got -0.5", "train", "--adam-beta2", "-0.5", "--device", "cpu", "--out",
                dir.resolve("x").toString());
        fails("--adam-eps must be a positive number, got 0.0", "train", "--adam-eps", "0", "--device", "cpu", "--out",
                dir.resolve("x").toString());
        fails("--weight-decay must be a number >= 0, got -1.0", "train", "--weight-decay", "-1", "--device", "cpu", "--out",
                dir.resolve("x").toString());
        fails("--ema-decay must be in [0, 1), got 1.0", "train", "--ema-decay", "1", "--device", "cpu", "--out",
                dir.resolve("x").toString());
        fails("--sampler must be ddpm, ddim, dpm++, dpm++sde or dpm++3m, got 'euler'", "sample", "--from", m, "--sampler", "euler");
        fails("--eta is for --sampler ddim", "sample", "--from", m, "--eta", "0.5");
        fails("--eta is for --sampler ddim", "sample", "--from", m, "--sampler", "dpm++", "--eta", "0.5");
        fails("--karras is for --sampler dpm++, dpm++sde or dpm++3m, not ddim", "sample", "--from", m, "--sampler", "ddim",
                "--karras", "--device", "cpu");
        fails("--karras is for --sampler dpm++, dpm++sde or dpm++3m, not ddpm", "sample", "--from", m, "--karras");
        fails("--timestep-spacing is for --sampler ddim or the dpm++ ones (ddpm visits every timestep)", "sample", "--from", m,
                "--timestep-spacing", "trailing", "--device", "cpu");
        fails("--timestep-spacing and --karras exclude each other", "sample", "--from", m, "--sampler", "dpm++", "--karras",
                "--timestep-spacing", "leading", "--device", "cpu");
        fails("--timestep-spacing must be linspace, leading or trailing, got 'uniform'", "sample", "--from", m,
                "--timestep-spacing", "uniform");
        fails("--grid-karras is for --grid-sampler dpm++, dpm++sde or dpm++3m, not ddim", "train", "--grid-sampler", "ddim",
                "--grid-karras", "--device", "cpu", "--out", dir.resolve("gk").toString());
        fails("--sampling-steps must be in [1, 39] for dpm++", "sample", "--from", m, "--sampler", "dpm++", "--sampling-steps",
                "40", "--device", "cpu");
        fails("--sampling-steps 10 needs --sampler ddim", "sample", "--from", m, "--sampling-steps", "10", "--device", "cpu");
        fails("--sampling-steps must be in [1, 40]", "sample", "--from", m, "--sampler", "ddim", "--sampling-steps", "41",
                "--device", "cpu");
        fails("--format takes grid, png and npz, comma-separated; got 'jpg'", "sample", "--from", m, "--format", "grid,jpg");
        fails("unknown class 'zebra'", "sample", "--from", m, "--class", "zebra", "--device", "cpu");
        fails("--weights must be ema or raw, got 'best'", "export", "--from", m, "--out", "x", "--weights", "best");
        // A model without an EMA or classes.
        Path plain = dir.resolve("plain");
        String[] a = {"train", "--out", plain.toString(), "--ema-decay", "0", "--steps", "1", "--limit", "16", "--sample-every",
                "0", "--progress", "none", "--cifar-dir", TestData.syntheticCifar().toString()};
        String[] all = new String[a.length + TINY.length];
        System.arraycopy(a, 0, all, 0, a.length);
        System.arraycopy(TINY, 0, all, a.length, TINY.length);
        ok(all);
        String p = plain.resolve("model.ckpt").toString();
        fails("keeps no EMA of its weights", "sample", "--from", p, "--weights", "ema", "--device", "cpu");
        fails("--class needs a class-conditional model", "sample", "--from", p, "--class", "ship", "--device", "cpu");
        fails("--guidance needs a class-conditional model", "sample", "--from", p, "--guidance", "2", "--device", "cpu");
    }

    @Test
    void helpNamesTheNewFlags() {
        String sample = Cli.run("sample", "--help").out();
        for (String f : new String[] {"--sampler", "--sampling-steps", "--eta", "--clip-x0", "--class", "--guidance", "--format", "--weights"}) {
            assertTrue(sample.contains(f), "sample --help lists " + f);
        }
        String train = Cli.run("train", "--help").out();
        for (String f : new String[] {"--ema-decay", "--cond-drop", "--conditional", "--schedule"}) {
            assertTrue(train.contains(f), "train --help lists " + f);
        }
        assertTrue(Cli.run("export", "--help").out().contains("--weights"));
        assertTrue(Cli.run("finetune", "--help").out().contains("--weights"));
    }
}
