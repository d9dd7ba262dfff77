package org.ddpm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HashSet;
import java.util.Set;
import javax.imageio.ImageIO;
import org.ddpm4j.checkpoint.Checkpoint;
import org.ddpm4j.checkpoint.CheckpointFile;
import org.ddpm4j.testing.Cli;
import org.ddpm4j.testing.TestData;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CLI end to end on the CPU with the synthetic CIFAR-10 folder, at a tiny size: train, resume, sample, export, import,
 * finetune.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class CliEndToEndTest {
    @TempDir
    static Path dir;

    static final String[] TINY = {"--base-width", "4", "--timesteps", "40", "--batch", "16", "--device", "cpu", "--threads", "2"};

    /** {@code command} with the tiny model flags, then {@code rest}. */
    static String[] tiny(String command, String... rest) {
        String[] a = new String[1 + TINY.length + rest.length];
        a[0] = command;
        System.arraycopy(TINY, 0, a, 1, TINY.length);
        System.arraycopy(rest, 0, a, 1 + TINY.length, rest.length);
        return a;
    }

    static Cli.Result ok(String... a) {
        Cli.Result r = Cli.run(a);
        assertEquals(0, r.code(), r.toString());
        return r;
    }

    static BufferedImage png(Path f, int w, int h) throws Exception {
        assertTrue(Files.exists(f), f + " exists");
        BufferedImage img = ImageIO.read(f.toFile());
        assertNotNull(img, f + " decodes");
        assertEquals(w, img.getWidth(), f + " width");
        assertEquals(h, img.getHeight(), f + " height");
        Set<Integer> colours = new HashSet<>();
        for (int y = 0; y < h; y += 3) for (int x = 0; x < w; x += 3) colours.add(img.getRGB(x, y));
        assertTrue(colours.size() > 50, f + " has real content (" + colours.size() + " colours)");
        return img;
    }

    static String sha(Path f) throws Exception {
        return java.util.HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f)));
    }

    @Test
    @Order(1)
    void trainWritesCheckpointLogCurveAndGrids() throws Exception {
        Path run = dir.resolve("base");
        Cli.Result r = ok(tiny("train", "--out", run.toString(), "--limit", "48", "--epochs", "2", "--sample-every", "1",
                "--cifar-dir", TestData.syntheticCifar().toString(), "--progress", "plain", "--seed", "3"));
        assertTrue(r.out().contains("checkpoint: " + run.resolve("model.ckpt")), r.toString());
        assertTrue(r.err().contains("epoch 1/2 done") && r.err().contains("epoch 2/2 done"), r.toString());
        assertEquals(6, Files.readAllLines(run.resolve("loss.jsonl")).size(), "48 images / 16 = 3 steps x 2 epochs");
        png(run.resolve("loss.png"), 800, 400);
        png(run.resolve("samples/epoch-001.png"), 342, 342);
        png(run.resolve("samples/epoch-002.png"), 342, 342);
        Checkpoint c = CheckpointFile.read(run.resolve("model.ckpt"));
        assertEquals(6, c.progress().globalStep());
        assertEquals(48, c.meta().images());
        assertEquals(3, c.meta().training().seed());
    }

    @Test
    @Order(2)
    void anExistingRunIsNotOverwrittenButCanBeResumed() throws Exception {
        Path run = dir.resolve("base");
        Cli.Result r = Cli.run(tiny("train", "--out", run.toString(), "--limit", "48"));
        assertEquals(2, r.code(), r.toString());
        assertTrue(r.err().contains("already exists; pass --resume"), r.toString());
        r = Cli.run("train", "--out", run.toString(), "--resume", "--batch", "8");
        assertEquals(2, r.code(), r.toString());
        assertTrue(r.err().contains("--batch 8 (the run has 16): a resumed run keeps its checkpoint's settings"), r.toString());
        ok("train", "--out", run.toString(), "--resume", "--epochs", "3", "--sample-every", "0", "--device", "cpu",
                "--cifar-dir", TestData.syntheticCifar().toString());
        assertEquals(9, Files.readAllLines(run.resolve("loss.jsonl")).size());
        assertEquals(9, CheckpointFile.read(run.resolve("model.ckpt")).progress().globalStep());
    }

    @Test
    @Order(3)
    void sampleWritesTheGridTheMidGridAndTheStrip() throws Exception {
        Path out = dir.resolve("samples");
        Cli.Result r = ok("sample", "--from", dir.resolve("base/model.ckpt").toString(), "--out", out.toString(), "--batch", "50",
                "--seed", "7", "--device", "cpu");
        assertTrue(r.out().contains("samples: " + out.resolve("samples.png")), r.toString());
        png(out.resolve("samples.png"), 342, 342);
        png(out.resolve("samples-t20.png"), 342, 342);
        png(out.resolve("strip.png"), 11 * 32 + 12 * 2, 8 * 32 + 9 * 2);
        String first = sha(out.resolve("samples.png"));
        r = Cli.run("sample", "--from", dir.resolve("base/model.ckpt").toString(), "--out", out.toString(), "--seed", "7",
                "--device", "cpu");
        assertEquals(2, r.code(), r.toString());
        assertTrue(r.err().contains(out.resolve("samples.png") + " already exists") && r.err().contains("--force"), r.toString());
        assertFalse(r.err().contains("sampling"), "refused before sampling: " + r);
        ok("sample", "--from", dir.resolve("base/model.ckpt").toString(), "--out", out.toString(), "--batch", "30", "--seed", "7",
                "--device", "cpu", "--strip-images", "0", "--mid-step", "-1", "--force");
        assertEquals(first, sha(out.resolve("samples.png")), "same seed, same images (whatever the batch)");
    }

    @Test
    @Order(4)
    void exportAndImportRoundTrip() throws Exception {
        Path st = dir.resolve("model.safetensors"), back = dir.resolve("imported.ckpt");
        ok("export", "--from", dir.resolve("base/model.ckpt").toString(), "--out", st.toString());
        Cli.Result r = ok("import", "--from", st.toString(), "--out", back.toString());
        assertTrue(r.out().contains("base width 4, depth 2"), r.toString());
        Checkpoint a = CheckpointFile.read(dir.resolve("base/model.ckpt")), b = CheckpointFile.read(back);
        assertTrue(a.model().hasEma(), "tiny keeps an EMA");
        assertArrayEquals(a.model().emaParams(), b.model().params(), "export takes the EMA by default");
        assertArrayEquals(a.model().emaBuffers(), b.model().buffers(), "with the EMA of the BatchNorm statistics");
        assertArrayEquals(a.model().timeTable(), b.model().timeTable());
        assertEquals(a.model().bnBatches(), b.model().bnBatches());
        assertEquals(a.model().config(), b.model().config(), "image size and betas travel in the metadata");
        assertEquals(2, Cli.run("import", "--from", st.toString(), "--out", back.toString()).code(), "no silent overwrite");
    }

    @Test
    @Order(5)
    void finetuneOnShipsLeavesTheBaseUntouched() throws Exception {
        Path base = dir.resolve("base/model.ckpt"), run = dir.resolve("ship");
        String before = sha(base);
        long modified = Files.getLastModifiedTime(base).toMillis();
        Cli.Result r = ok("finetune", "--from", base.toString(), "--class", "ship", "--out", run.toString(), "--steps", "4",
                "--sample-every", "0", "--device", "cpu", "--cifar-dir", TestData.syntheticCifar().toString());
        assertTrue(r.err().contains("class ship, " + TestData.SYNTHETIC_TRAIN_PER_CLASS + " images"), r.toString());
        assertEquals(before, sha(base), "the base checkpoint's bytes are unchanged");
        assertEquals(modified, Files.getLastModifiedTime(base).toMillis());
        Checkpoint b = CheckpointFile.read(base), f = CheckpointFile.read(run.resolve("model.ckpt"));
        assertEquals("ship", f.meta().data().className());
        assertEquals(TestData.SYNTHETIC_TRAIN_PER_CLASS, f.meta().images());
        assertEquals(3e-4, f.meta().training().adam().lr(), "the notebook's fine-tuning learning rate");
        assertEquals(10, f.meta().training().epochs());
        assertEquals(base.toAbsolutePath().normalize().toString(), f.meta().finetunedFrom());
        assertEquals(4, f.optimizer().adamStep(), "a fresh optimiser");
        assertEquals(4, f.progress().globalStep());
        assertFalse(java.util.Arrays.equals(b.model().params(), f.model().params()), "the copy was trained");
        assertEquals(b.model().bnBatches() + 4, f.model().bnBatches());
        // Sampling the fine-tuned model works too.
        ok("sample", "--from", run.resolve("model.ckpt").toString(), "--count", "4", "--device", "cpu");
        png(run.resolve("samples/samples.png"), 2 * 32 + 3 * 2, 2 * 32 + 3 * 2);
        // Fine-tuning into the base's own folder is refused.
        Cli.Result same = Cli.run("finetune", "--from", base.toString(), "--class", "ship", "--out", dir.resolve("base").toString(),
                "--device", "cpu");
        assertEquals(2, same.code(), same.toString());
        assertEquals(before, sha(base));
    }

    @Test
    @Order(6)
    void benchPrintsOneJsonLine() {
        Cli.Result r = ok("bench", "--base-width", "4", "--timesteps", "20", "--batch", "4", "--warmup", "1", "--iters", "2",
                "--device", "cpu", "--threads", "1");
        String[] lines = r.out().strip().split("\n");
        assertEquals(1, lines.length, r.toString());
        JsonObject o = JsonParser.parseString(lines[0]).getAsJsonObject();
        for (String k : new String[] {"backend", "device", "threads", "batch", "image", "base_width", "depth",
                "train_img_per_s", "forward_img_per_s", "peak_memory_bytes"}) {
            assertTrue(o.has(k), "has " + k + ": " + lines[0]);
        }
        assertEquals("cpu", o.get("backend").getAsString());
        assertEquals(1, o.get("threads").getAsInt());
        assertEquals(4, o.get("batch").getAsInt());
        assertEquals("3x32x32", o.get("image").getAsString());
        assertTrue(o.get("train_img_per_s").getAsDouble() > 0);
        assertTrue(o.get("forward_img_per_s").getAsDouble() > 0);
        assertTrue(o.get("peak_memory_bytes").getAsLong() > 0);
    }

    @Test
    @Order(7)
    void infoNamesBackendThreadsCpuCudaAndVersions() {
        Cli.Result r = ok("info", "--device", "cpu", "--threads", "1");
        for (String s : new String[] {"ddpm4j ", "native ", "java: ", "cpu: ", "cuda: ", "backend: cpu", "threads: 1"}) {
            assertTrue(r.out().contains(s), "'" + s + "' in " + r);
        }
    }
}
