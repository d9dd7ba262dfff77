package org.ddpm4j.checkpoint;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.ddpm4j.data.DataSpec;
import org.ddpm4j.data.Split;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.train.Preset;
import org.ddpm4j.train.TrainSettings;
import org.ddpm4j.train.TrainingState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointFileTest {
    static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    /** A synthetic checkpoint (no native model needed): 300,000 parameters so the float sections span chunks. */
    static Checkpoint sample() {
        UNetConfig cfg = UNetConfig.seed().withTimesteps(50).withTimeDim(8);
        TrainSettings s = Preset.TINY.settings().withSeed(42).withLr(3e-4).withEpochs(7);
        DataSpec d = DataSpec.cifar("/data/cifar", Split.TRAIN).withClass("ship");
        CheckpointMeta meta = new CheckpointMeta(cfg, s, d, 5000, "/runs/base/model.ckpt");
        int n = 300_000;
        ModelState m = new ModelState(cfg, random(n, 1), random(1234, 2), 777, random(50 * 8, 3), TimeTable.NOTEBOOK);
        return new Checkpoint(meta, m, new OptimizerState(random(2 * n, 4), 321), new TrainingState(321, 4, 17));
    }

    @Test
    void roundTripKeepsEverything(@TempDir Path dir) {
        Checkpoint c = sample();
        Path f = dir.resolve("a.ckpt");
        CheckpointFile.write(f, c);
        assertFalse(Files.exists(dir.resolve("a.ckpt.tmp")), "the temporary file is renamed");
        Checkpoint r = CheckpointFile.read(f);
        assertEquals(c.meta(), r.meta());
        assertEquals(c.progress(), r.progress());
        assertArrayEquals(c.model().params(), r.model().params());
        assertArrayEquals(c.model().buffers(), r.model().buffers());
        assertArrayEquals(c.model().timeTable(), r.model().timeTable());
        assertEquals(777, r.model().bnBatches());
        assertEquals(TimeTable.NOTEBOOK, r.model().timeTableKind());
        assertArrayEquals(c.optimizer().moments(), r.optimizer().moments());
        assertEquals(321, r.optimizer().adamStep());
        assertEquals(42, r.meta().training().seed());
        assertEquals("ship", r.meta().data().className());
        assertEquals(3e-4, r.meta().training().adam().lr());
        assertEquals(1e-4f, r.meta().model().betaStart());
    }

    @Test
    void truncatedFilesAreReportedAsTruncated(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("full.ckpt");
        CheckpointFile.write(f, sample());
        byte[] all = Files.readAllBytes(f);
        long[] cuts = {12, 13, 20, 200, all.length / 3, all.length / 2, all.length - 100, all.length - 9, all.length - 1};
        for (long cut : cuts) {
            Path t = dir.resolve("cut-" + cut + ".ckpt");
            Files.write(t, Arrays.copyOf(all, (int) cut));
            CheckpointException e = assertThrows(CheckpointException.class, () -> CheckpointFile.read(t), "cut at " + cut);
            assertTrue(e.getMessage().startsWith("checkpoint " + t + " is truncated"), "cut at " + cut + ": " + e.getMessage());
        }
    }

    @Test
    void flippedBytesAreCaughtByTheSectionCrc(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("a.ckpt");
        CheckpointFile.write(f, sample());
        byte[] all = Files.readAllBytes(f);
        int params = indexOf(all, "params".getBytes(StandardCharsets.US_ASCII));
        byte[] bad = all.clone();
        bad[params + 6 + 8 + 5000] ^= 0x10;  // inside the params payload
        Files.write(f, bad);
        CheckpointException e = assertThrows(CheckpointException.class, () -> CheckpointFile.read(f));
        assertEquals("checkpoint " + f + " is corrupt: section 'params' fails its CRC32 check", e.getMessage());

        bad = all.clone();
        bad[40] ^= 0x01;  // inside the config JSON
        Files.write(f, bad);
        e = assertThrows(CheckpointException.class, () -> CheckpointFile.read(f));
        assertTrue(e.getMessage().contains("corrupt: section 'config'"), e.getMessage());

        bad = Arrays.copyOf(all, all.length + 3);  // junk after the end marker
        Files.write(f, bad);
        e = assertThrows(CheckpointException.class, () -> CheckpointFile.read(f));
        assertTrue(e.getMessage().contains("corrupt") && e.getMessage().contains("after the end marker"), e.getMessage());
    }

    static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i <= hay.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        throw new AssertionError("not found");
    }

    @Test
    void foreignFilesAndOtherVersionsAreNamed(@TempDir Path dir) throws IOException {
        Path png = dir.resolve("picture.png");
        Files.write(png, new byte[] {(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0, 0, 13});
        CheckpointException e = assertThrows(CheckpointException.class, () -> CheckpointFile.read(png));
        assertEquals(png + " is not a ddpm4j checkpoint", e.getMessage());
        Path empty = Files.createFile(dir.resolve("empty.ckpt"));
        e = assertThrows(CheckpointException.class, () -> CheckpointFile.read(empty));
        assertEquals(empty + " is not a ddpm4j checkpoint", e.getMessage());
        Path missing = dir.resolve("missing.ckpt");
        e = assertThrows(CheckpointException.class, () -> CheckpointFile.read(missing));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());

        Path f = dir.resolve("v3.ckpt");
        CheckpointFile.write(f, sample());
        byte[] all = Files.readAllBytes(f);
        ByteBuffer.wrap(all, 8, 4).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(3);
        Files.write(f, all);
        e = assertThrows(CheckpointException.class, () -> CheckpointFile.read(f));
        assertTrue(e.getMessage().contains("format version 3") && e.getMessage().contains("reads versions 1 and 2"), e.getMessage());
    }

    @Test
    void aFailedWriteLeavesTheOldFileIntact(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("model.ckpt");
        CheckpointFile.write(f, sample());
        byte[] before = Files.readAllBytes(f);
        IOException e = assertThrows(IOException.class, () -> AtomicFiles.write(f, ch -> {
            ch.write(ByteBuffer.wrap(new byte[1000]));
            throw new IOException("disk full (simulated)");
        }));
        assertEquals("disk full (simulated)", e.getMessage());
        assertArrayEquals(before, Files.readAllBytes(f), "the previous checkpoint survives");
        assertFalse(Files.exists(dir.resolve("model.ckpt.tmp")), "no temporary file is left behind");
        // A second write replaces it whole.
        Checkpoint c2 = new Checkpoint(sample().meta(), sample().model(), sample().optimizer(), new TrainingState(999, 9, 0));
        CheckpointFile.write(f, c2);
        assertEquals(999, CheckpointFile.read(f).progress().globalStep());
    }
}
