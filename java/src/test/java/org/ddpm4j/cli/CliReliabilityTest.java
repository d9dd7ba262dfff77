package org.ddpm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.ddpm4j.checkpoint.Checkpoint;
import org.ddpm4j.checkpoint.CheckpointFile;
import org.ddpm4j.checkpoint.ModelState;
import org.ddpm4j.testing.Cli;
import org.ddpm4j.testing.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command-line failures a new user hit (issue 11): each row of that table as a test, on a
 * tiny model (base 4, T = 40) and a few images of the synthetic CIFAR-10 folder.
 */
class CliReliabilityTest {
    @TempDir
    Path dir;

    static final List<String> MODEL = List.of("--base-width", "4", "--timesteps", "40");
    static final List<String> DEVICE = List.of("--device", "cpu", "--threads", "2");

    /** {@code command} on the CPU with {@code rest}. */
    static String[] args(String command, String... rest) {
        List<String> a = new ArrayList<>(List.of(command));
        a.addAll(DEVICE);
        a.addAll(List.of(rest));
        return a.toArray(String[]::new);
    }

    /**
     * train into {@code out}: the tiny model on 48 images in batches of 16, no progress, no grids, unless
     * {@code rest} says otherwise.
     */
    static String[] train(Path out, String... rest) {
        List<String> r = List.of(rest);
        List<String> a = new ArrayList<>(List.of("train", "--out", out.toString(), "--cifar-dir", TestData.syntheticCifar().toString()));
        a.addAll(DEVICE);
        for (int i = 0; i < MODEL.size() && !r.contains("--resume"); i += 2) {
            if (!r.contains(MODEL.get(i))) a.addAll(MODEL.subList(i, i + 2));
        }
        for (String[] d : new String[][] {{"--limit", "48"}, {"--batch", "16"}, {"--progress", "none"}, {"--sample-every", "0"}}) {
            if (!r.contains(d[0]) && !(r.contains("--resume") && !d[0].equals("--progress"))) a.addAll(List.of(d));
        }
        a.addAll(r);
        return a.toArray(String[]::new);
    }

    static Cli.Result ok(String... a) {
        Cli.Result r = Cli.run(a);
        assertEquals(0, r.code(), r.toString());
        return r;
    }

    static Cli.Result fails(String... a) {
        Cli.Result r = Cli.run(a);
        assertEquals(2, r.code(), r.toString());
        assertFalse(r.err().contains("internal error"), r.toString());
        return r;
    }

    static String sha(Path f) throws Exception {
        return java.util.HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f)));
    }

    static List<String> names(Path d) throws IOException {
        try (Stream<Path> s = Files.list(d)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void noArgumentsPrintsTheUsageAndExits2() {
        Cli.Result r = Cli.run();
        assertEquals(2, r.code(), r.toString());
        assertTrue(r.err().contains("Usage: ddpm") && r.err().contains("train"), r.toString());
        assertFalse(r.err().contains("internal error"), r.toString());
    }

    @Test
    void resumingWithTheRunsOwnValuesIsAcceptedAndRealChangesAreNamed() throws Exception {
        Path run = dir.resolve("run");
        ok(train(run, "--epochs", "1", "--seed", "3", "--preset", "tiny"));
        // The same flags again, as a user re-running their command with --resume.
        List<String> same = new ArrayList<>(List.of(train(run, "--epochs", "2", "--seed", "3", "--preset", "tiny", "--lr", "0.001")));
        same.add("--resume");
        ok(same.toArray(String[]::new));
        assertEquals(6, CheckpointFile.read(run.resolve("model.ckpt")).progress().globalStep());
        Cli.Result r = fails(train(run, "--epochs", "3", "--resume", "--lr", "0.01", "--seed", "4"));
        assertTrue(r.err().contains("--lr 0.01 (the run has 0.001)") && r.err().contains("--seed 4 (the run has 3)"), r.toString());
        r = fails(train(run, "--epochs", "3", "--resume", "--preset", "seed"));
        assertTrue(r.err().contains("--preset seed (the run has tiny+custom)"), r.toString());
    }

    @Test
    void theNotebookTableIsRefusedForAnOddNumberOfTimesteps() {
        Cli.Result r = fails(train(dir.resolve("run"), "--time-table", "notebook", "--timesteps", "41"));
        assertTrue(r.err().contains("--time-table notebook needs an even --timesteps (got 41)"), r.toString());
        assertFalse(Files.exists(dir.resolve("run")));
    }

    @Test
    void finetuneRefusesATimeTable() throws Exception {
        Path run = dir.resolve("base");
        ok(train(run, "--epochs", "1"));
        Cli.Result r = fails(args("finetune", "--from", run.resolve("model.ckpt").toString(), "--class", "ship", "--limit", "16",
                "--time-table", "notebook", "--out", dir.resolve("ft").toString(), "--cifar-dir", TestData.syntheticCifar().toString()));
        assertTrue(r.err().contains("--time-table does not apply to finetune"), r.toString());
        assertFalse(Files.exists(dir.resolve("ft")), "no run folder left behind");
    }

    @Test
    void anOutputThatIsAFileOrUnwritableIsRefusedBeforeAnyWork() throws Exception {
        Path file = Files.writeString(dir.resolve("not-a-folder"), "x");
        Cli.Result r = fails(train(file));
        assertTrue(r.err().contains(file + " is a file, not a folder"), r.toString());
        assertFalse(r.err().contains("data:"), "refused before loading data: " + r);
        r = fails(train(file.resolve("run")));
        assertTrue(r.err().contains("is a file, not a folder"), r.toString());
        r = fails(train(Path.of("/proc/ddpm-run")));
        assertTrue(r.err().contains("cannot write to the run folder /proc/ddpm-run: "), r.toString());

        Path run = dir.resolve("run");
        ok(train(run, "--epochs", "1"));
        r = fails("sample", "--from", run.resolve("model.ckpt").toString(), "--out", file.toString(), "--device", "cpu");
        assertTrue(r.err().contains(file + " is a file, not a folder"), r.toString());
        assertFalse(r.err().contains("sampling"), "refused before sampling: " + r);
    }

    @Test
    void theLimitThatEndsARunIsNamed() {
        Path run = dir.resolve("run");
        Cli.Result r = ok(train(run, "--epochs", "1", "--steps", "30"));
        assertTrue(r.err().contains("training to step 3: the end of epoch 1 (--epochs 1, 3 steps each); --steps 30 is beyond it"),
                r.toString());
        assertTrue(r.out().contains("ended by: the end of epoch 1"), r.toString());
        r = ok(train(dir.resolve("run2"), "--epochs", "5", "--steps", "4"));
        assertTrue(r.out().contains("ended by: --steps 4 (in epoch 2 of 5)"), r.toString());
    }

    @Test
    void aBatchLargerThanTheDataIsClampedWithAWarning() throws Exception {
        Path run = dir.resolve("run");
        Cli.Result r = ok(train(run, "--limit", "40", "--batch", "1000", "--epochs", "1"));
        assertTrue(r.err().contains("warning: --batch 1000 is more than the 40 images; training with batches of 40"), r.toString());
        Checkpoint c = CheckpointFile.read(run.resolve("model.ckpt"));
        assertEquals(40, c.meta().training().batch());
        assertTrue(r.err().matches("(?s).*backend: cpu \\(.*\\), ([0-9.]+) MiB.*"), r.toString());
        double mib = Double.parseDouble(r.err().replaceAll("(?s).*backend: cpu \\([^)]*\\), ([0-9.]+) MiB.*", "$1"));
        assertTrue(mib < 100, "memory sized for 40 images, not 1000: " + mib + " MiB");
    }

    @Test
    void samplingDoesNotOverwriteAndDrawsOtherImagesThanTheTrainingGrid() throws Exception {
        Path run = dir.resolve("run");
        ok(train(run, "--epochs", "1", "--sample-every", "1"));
        Path grid = run.resolve("samples/epoch-001.png");
        assertTrue(Files.exists(grid));
        ok("sample", "--from", run.resolve("model.ckpt").toString(), "--device", "cpu");
        Path samples = run.resolve("samples/samples.png");
        assertNotEquals(sha(grid), sha(samples), "the README's next step must not redraw the last training grid");
        Cli.Result r = fails("sample", "--from", run.resolve("model.ckpt").toString(), "--device", "cpu");
        assertTrue(r.err().contains(samples + " already exists"), r.toString());
        ok("sample", "--from", run.resolve("model.ckpt").toString(), "--device", "cpu", "--force", "--seed", "1");
        assertEquals(sha(grid), sha(samples), "grids use the training seed + 1 (documented)");
    }

    @Test
    void olderCheckpointsAreKeptAndUsedWhenTheNewestIsDamaged() throws Exception {
        Path run = dir.resolve("run");
        // One epoch per invocation: within one, a checkpoint due while the previous file is still being written
        // is taken a step later (timing-dependent); the last one of an invocation is always taken.
        ok(train(run, "--epochs", "1"));
        ok(train(run, "--epochs", "2", "--resume"));
        ok(train(run, "--epochs", "3", "--resume"));
        assertEquals(List.of(".ddpm-run.lock", "loss.jsonl", "loss.png", "model-step6.ckpt", "model.ckpt", "run.json"), names(run));
        assertEquals(6, CheckpointFile.read(run.resolve("model-step6.ckpt")).progress().globalStep());
        ok(train(run, "--epochs", "4", "--resume", "--keep", "3"));
        assertEquals(List.of("model-step6.ckpt", "model-step9.ckpt", "model.ckpt"),
                names(run).stream().filter(n -> n.endsWith(".ckpt")).toList());

        byte[] bytes = Files.readAllBytes(run.resolve("model.ckpt"));
        bytes[bytes.length / 2] ^= 0x5a;
        Files.write(run.resolve("model.ckpt"), bytes);
        Cli.Result r = ok(train(run, "--epochs", "5", "--resume"));
        assertTrue(r.err().contains("fails its CRC32 check; resuming from " + run.resolve("model-step9.ckpt")), r.toString());
        assertTrue(r.err().contains("resuming at step 9"), r.toString());
        assertEquals(15, CheckpointFile.read(run.resolve("model.ckpt")).progress().globalStep());
        // Epochs 4 and 5 again: the damaged step-12 file was replaced (not kept under a step name) by a good one,
        // which is the older one kept now (--keep 2); steps 6 and 9 are dropped.
        assertEquals(List.of("model-step12.ckpt", "model.ckpt"), names(run).stream().filter(n -> n.endsWith(".ckpt")).toList());
        assertEquals(12, CheckpointFile.read(run.resolve("model-step12.ckpt")).progress().globalStep());

        ok(train(run, "--epochs", "1", "--force", "--keep", "1"));
        assertEquals(List.of("model.ckpt"), names(run).stream().filter(n -> n.endsWith(".ckpt")).toList(),
                "--force drops the replaced run's older checkpoints");
    }

    @Test
    void aFailedRunLeavesNoEmptyFolderAndNoTemporaryFiles() throws Exception {
        Path run = dir.resolve("a/b/run");
        Cli.Result r = fails(args("train", "--out", run.toString(), "--cifar-dir", dir.resolve("nowhere").toString()));
        assertFalse(Files.exists(dir.resolve("a")), "created folders are removed again: " + r);
        Path good = dir.resolve("good");
        ok(train(good, "--epochs", "1"));
        Files.writeString(good.resolve("model.ckpt.tmp"), "");  // as a killed run leaves it
        ok(train(good, "--epochs", "2", "--resume"));
        assertFalse(Files.exists(good.resolve("model.ckpt.tmp")));
    }

    @Test
    void divergenceStopsWithoutACheckpointAndSamplingRefusesNonFiniteWeights() throws Exception {
        Path run = dir.resolve("run");
        Cli.Result r = fails(train(run, "--lr", "1e9", "--epochs", "3"));
        assertTrue(r.err().matches("(?s).*training diverged: (the loss of step \\d+ is (NaN|[+-]Inf)|after step \\d+ a parameter .* is not finite).*"),
                r.toString());
        assertTrue(r.err().contains("try a smaller --lr than 1000000000"), r.toString());
        assertFalse(Files.exists(run.resolve("model.ckpt")), "no checkpoint of a diverged model");

        Path good = dir.resolve("good");
        ok(train(good, "--epochs", "1"));
        Checkpoint c = CheckpointFile.read(good.resolve("model.ckpt"));
        float[] p = c.model().params().clone();
        p[5] = Float.NaN;
        ModelState m = c.model();
        Path bad = dir.resolve("nan.ckpt");
        CheckpointFile.write(bad, new Checkpoint(c.meta(), new ModelState(m.config(), p, m.buffers(), m.bnBatches(), m.timeTable(),
                m.timeTableKind()), c.optimizer(), c.progress()));
        r = fails("sample", "--from", bad.toString(), "--device", "cpu", "--out", dir.resolve("s").toString());
        assertTrue(r.err().contains(bad + " holds non-finite weights (1 of"), r.toString());
        assertFalse(Files.exists(dir.resolve("s")));
    }

    @Test
    void theRunEndsWithATimeBreakdownAndRunJson() throws Exception {
        Path run = dir.resolve("run");
        Cli.Result r = ok(train(run, "--epochs", "3", "--limit", "480", "--progress", "plain"));
        assertTrue(r.err().matches("(?s).*\ntime [0-9hms]+: setup [0-9.]+s, warm-up [0-9.]+s, training [0-9.]+s.*"), r.toString());
        double setup = Double.parseDouble(r.err().replaceAll("(?s).*\ntime [0-9hms]+: setup ([0-9.]+)s.*", "$1"));
        assertTrue(setup < 30, "setup counts from the command's start in-process, not the test JVM's: " + setup);
        JsonObject j = JsonParser.parseString(Files.readString(run.resolve("run.json"))).getAsJsonObject();
        assertEquals("finished", j.get("status").getAsString());
        assertEquals(90, j.getAsJsonObject("steps").get("end").getAsLong());
        assertEquals("cpu", j.getAsJsonObject("device").get("backend").getAsString());
        assertEquals("fp32", j.getAsJsonObject("device").get("precision").getAsString());
        JsonObject t = j.getAsJsonObject("time");
        for (String k : new String[] {"setup_s", "warmup_s", "steps_s", "data_s", "checkpoints_s", "grids_s", "finish_s", "total_s"}) {
            assertTrue(t.has(k) && t.get(k).getAsDouble() >= 0, k + " in " + t);
        }
        assertTrue(t.get("total_s").getAsDouble() > 0);
        // Epoch times are disjoint intervals of the training (setup excluded): together they fit in it.
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("epoch \\d+/3 done in ([0-9.]+) s").matcher(r.err());
        double epochs = 0;
        int count = 0;
        while (m.find()) {
            epochs += Double.parseDouble(m.group(1));
            count++;
        }
        assertEquals(3, count, r.toString());
        double training = t.get("total_s").getAsDouble() - t.get("setup_s").getAsDouble();
        assertTrue(epochs <= training + 0.05 * count, epochs + " s of epochs in " + t);
        assertTrue(j.getAsJsonObject("loss").get("last_mean").getAsDouble() > 0);
        assertEquals(4, j.getAsJsonObject("model").get("base_width").getAsInt());
    }

    /** A real SIGTERM/Ctrl-C to a separate JVM: the checkpoint and the closing lines both make it out. */
    @Test
    void interruptingATrainingRunSavesAndPrintsTheSummary() throws Exception {
        Path run = dir.resolve("run");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path"), "org.ddpm4j.cli.Main"));
        cmd.addAll(List.of(train(run, "--epochs", "100000", "--progress", "plain")));
        Path out = dir.resolve("out.txt"), err = dir.resolve("err.txt");
        Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (!Files.readString(err).contains("training to step") && System.nanoTime() < deadline && p.isAlive()) Thread.sleep(50);
        Thread.sleep(1500);
        p.destroy();  // SIGTERM: the same shutdown path as Ctrl-C's SIGINT
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "stops promptly");
        String o = Files.readString(out, StandardCharsets.UTF_8), e = Files.readString(err, StandardCharsets.UTF_8);
        String all = "--- stdout\n" + o + "--- stderr\n" + e;
        assertTrue(e.contains("stopped at step ") && e.contains("resume with --resume"), all);
        assertTrue(o.contains("ended by: a stop request (Ctrl-C)") && o.contains("checkpoint: " + run.resolve("model.ckpt")), all);
        long step = CheckpointFile.read(run.resolve("model.ckpt")).progress().globalStep();
        assertTrue(e.contains("stopped at step " + step + ";"), all);
        assertEquals("stopped", JsonParser.parseString(Files.readString(run.resolve("run.json"))).getAsJsonObject()
                .get("status").getAsString());
    }

    /** ddpm in a child JVM with one environment variable set; returns {exit code, stdout + stderr}. */
    private static Object[] runWithEnv(Path dir, String var, String value, String... cliArgs) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path"), "org.ddpm4j.cli.Main"));
        cmd.addAll(List.of(cliArgs));
        Path out = dir.resolve(var + "-" + value + ".txt");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile());
        pb.environment().put(var, value);
        Process p = pb.start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "finishes");
        return new Object[] {p.exitValue(), Files.readString(out, StandardCharsets.UTF_8)};
    }

    @Test
    void cpuInstructionSetCapFromTheEnvironment(@TempDir Path dir) throws Exception {
        // DDPM_CPU_ISA=avx2: the backend says which kernels it runs, never the AVX-512 ones.
        Object[] capped = runWithEnv(dir, "DDPM_CPU_ISA", "avx2", "info");
        String text = (String) capped[1];
        assertEquals(0, capped[0], text);
        assertTrue(text.matches("(?s).*backend: cpu \\(.*, (avx2|generic) kernels\\).*"), text);
        // generic: the portable kernels even here.
        Object[] generic = runWithEnv(dir, "DDPM_CPU_ISA", "generic", "info");
        assertTrue(((String) generic[1]).contains("generic kernels)"), (String) generic[1]);
        // A value it does not know: one line naming the variable, exit code 2 (the user's input).
        Object[] bad = runWithEnv(dir, "DDPM_CPU_ISA", "avx3", args("bench", "--batch", "2", "--warmup", "0", "--iters", "1"));
        assertEquals(2, bad[0], (String) bad[1]);
        assertTrue(((String) bad[1]).contains("environment variable DDPM_CPU_ISA: expected generic, avx2 or avx512, got 'avx3'"),
                (String) bad[1]);
    }

    @Test
    void imageFoldersOfOtherSizesAreCroppedOrStretched(@TempDir Path dir) throws Exception {
        Path pics = Files.createDirectories(dir.resolve("pics"));
        for (int i = 0; i < 4; i++) {
            java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(48, 32, java.awt.image.BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 48; x++) img.setRGB(x, y, (x * 5 + i * 40) << 16 | (y * 7) << 8 | 90);
            assertTrue(javax.imageio.ImageIO.write(img, "png", pics.resolve("p" + i + ".png").toFile()));
        }
        // Without --resize: refused, naming the file and the flag's words.
        Cli.Result refused = Cli.run(train(dir.resolve("none"), "--images", pics.toString(), "--steps", "1", "--batch", "2"));
        assertEquals(2, refused.code(), refused.toString());
        assertTrue(refused.err().contains("p0.png is 48x32") && refused.err().contains("--resize crop or stretch"), refused.toString());
        // Alone, --resize crops; its value is recorded and a resume may not change it.
        Path crop = dir.resolve("crop");
        Cli.Result r = Cli.run(train(crop, "--images", pics.toString(), "--resize", "--steps", "1", "--batch", "2"));
        assertEquals(0, r.code(), r.toString());
        assertEquals(org.ddpm4j.data.Resize.CROP, CheckpointFile.read(crop.resolve("model.ckpt")).meta().data().resize());
        Cli.Result changed = Cli.run(train(crop, "--resume", "--resize", "stretch", "--steps", "2"));
        assertEquals(2, changed.code(), changed.toString());
        assertTrue(changed.err().contains("--resize stretch") && changed.err().contains("crop"), changed.toString());
        Path stretch = dir.resolve("stretch");
        r = Cli.run(train(stretch, "--images", pics.toString(), "--resize=stretch", "--steps", "1", "--batch", "2"));
        assertEquals(0, r.code(), r.toString());
        assertEquals(org.ddpm4j.data.Resize.STRETCH, CheckpointFile.read(stretch.resolve("model.ckpt")).meta().data().resize());
        Cli.Result bad = Cli.run(train(dir.resolve("bad"), "--images", pics.toString(), "--resize", "fit"));
        assertEquals(2, bad.code(), bad.toString());
        assertTrue(bad.err().contains("--resize must be none, crop or stretch, got 'fit'"), bad.toString());
    }
}
