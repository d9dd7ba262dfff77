package org.ddpm4j.job;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.binding.Backends;
import org.ddpm4j.checkpoint.Checkpoint;
import org.ddpm4j.checkpoint.CheckpointFile;
import org.ddpm4j.data.CifarLocator;
import org.ddpm4j.data.DataSpec;
import org.ddpm4j.data.Split;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.testing.TestData;
import org.ddpm4j.train.Progress;
import org.ddpm4j.train.StopSignal;
import org.ddpm4j.train.TrainSettings;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.optim.AdamConfig;
import org.ddpm4j.train.TrainingDivergedException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TrainJob's behaviour around the training loop: divergence, stop requests during a grid. */
class TrainJobTest {
    static TrainSettings settings(int batch, double lr, int epochs, long maxSteps, long seed) {
        return new TrainSettings("test", batch, AdamConfig.withLr(lr), epochs, maxSteps, true, seed, TimeTable.STANDARD,
                0, 1, 0, 25);
    }

    static DataSpec ships(int limit) {
        return DataSpec.cifar(TestData.syntheticCifar().toString(), Split.TRAIN).withClass("ship").withLimit(limit);
    }

    static String sha(Path f) throws Exception {
        return java.util.HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f)));
    }

    /** A run that diverges after a good checkpoint stops with the step named and leaves that checkpoint as it was. */
    @Test
    void divergenceKeepsTheLastGoodCheckpointUntouched(@TempDir Path dir) throws Exception {
        UNetConfig cfg = TestData.tiny(100);
        TrainSettings s = settings(16, 1e-3, 1, 0, 5);
        try (Backend be = Backends.cpu(2)) {
            TrainJob.run(be, new TrainJob.Request(cfg, s, ships(48), CifarLocator.defaults(), dir, null, false,
                    Progress.Mode.NONE, null, null), new PrintStream(OutputStream.nullOutputStream()));
        }
        Path ckpt = dir.resolve("model.ckpt");
        String before = sha(ckpt);
        Checkpoint good = CheckpointFile.read(ckpt);
        // The library API lets a caller resume with another learning rate; 1e9 blows the weights up at once.
        TrainSettings wild = s.withLr(1e9).withEpochs(20);
        TrainingDivergedException e;
        try (Backend be = Backends.cpu(2)) {
            e = assertThrows(TrainingDivergedException.class, () -> TrainJob.run(be, new TrainJob.Request(cfg, wild, ships(48),
                    CifarLocator.defaults(), dir, good, false, Progress.Mode.NONE, null, null, 2, ckpt),
                    new PrintStream(OutputStream.nullOutputStream())));
        }
        assertTrue(e.getMessage().startsWith("training diverged: "), e.getMessage());
        assertTrue(e.getMessage().contains("keeps step 3") || e.getMessage().contains(ckpt + " keeps step"), e.getMessage());
        assertTrue(e.step() >= 3, "the diverged step is after the resume point: " + e.step());
        // Checkpoints written before the divergence was seen must be finite; the good one at step 3 is intact.
        for (RunFiles.Older o : new RunFiles(dir).olderCheckpoints()) CheckpointFile.read(o.file()).model().requireFinite(o.file().toString());
        Checkpoint now = CheckpointFile.read(ckpt);
        now.model().requireFinite(ckpt.toString());
        if (now.progress().globalStep() == 3) assertEquals(before, sha(ckpt));
    }

    /** A stop request during an epoch's sample grid abandons the grid within a reverse step or so. */
    @Test
    void aStopRequestDuringASampleGridEndsItPromptly(@TempDir Path dir) throws Exception {
        UNetConfig cfg = TestData.tiny(1000);  // 1,000 reverse steps x 100 images: many seconds if it ran
        TrainSettings s = settings(16, 1e-3, 3, 0, 5).withSampleEvery(1);
        StopSignal stop = new StopSignal();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        long[] requestedAt = {0};
        PrintStream log = new PrintStream(new OutputStream() {
            @Override
            public void write(int b) {
                bytes.write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                bytes.write(b, off, len);
                if (requestedAt[0] == 0 && bytes.toString(StandardCharsets.UTF_8).contains("sampling a grid")) {
                    requestedAt[0] = System.nanoTime();
                    stop.request();
                }
            }
        }, true, StandardCharsets.UTF_8);
        TrainJob.Result r;
        try (Backend be = Backends.cpu(2)) {
            r = TrainJob.run(be, new TrainJob.Request(cfg, s, ships(32), CifarLocator.defaults(), dir, null, false,
                    Progress.Mode.PLAIN, null, null), log, stop, System.nanoTime(), TrainJob.FLAGS);
        }
        double after = (System.nanoTime() - requestedAt[0]) / 1e9;
        String text = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(requestedAt[0] > 0, text);
        assertTrue(text.contains("sample grid abandoned: stop requested"), text);
        assertTrue(r.stopped(), text);
        assertEquals(2, r.end().globalStep(), "stopped at the end of epoch 1 (2 steps of 16): " + text);
        assertTrue(r.grids().isEmpty());
        assertFalse(Files.exists(dir.resolve("samples/epoch-001.png")));
        assertEquals(2, CheckpointFile.read(dir.resolve("model.ckpt")).progress().globalStep());
        assertTrue(after < 30, "the run ended " + after + " s after the request");
    }
}
