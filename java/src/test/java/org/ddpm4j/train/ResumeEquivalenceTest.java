package org.ddpm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.binding.Backends;
import org.ddpm4j.checkpoint.Checkpoint;
import org.ddpm4j.checkpoint.CheckpointFile;
import org.ddpm4j.data.CifarLocator;
import org.ddpm4j.data.DataSpec;
import org.ddpm4j.data.Split;
import org.ddpm4j.job.TrainJob;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.testing.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * On the CPU, N steps in one go and N/2 + checkpoint + resume + N/2 give the same
 * parameters, Adam state, BatchNorm statistics and losses bit for bit. The data is
 * 40 ship images of the synthetic CIFAR-10 folder in batches of 16 (3 steps per epoch, the last one of 8), so
 * the runs cross epoch boundaries and the resume lands mid-epoch.
 */
class ResumeEquivalenceTest {
    static final int N = 10;
    static final PrintStream QUIET = new PrintStream(PrintStream.nullOutputStream());

    static TrainJob.Request request(Path dir, long maxSteps, Checkpoint resume) {
        UNetConfig cfg = TestData.tiny(100);
        TrainSettings s = TrainerTest.settings(16, 1e-3, 5, maxSteps, 11);
        DataSpec data = DataSpec.cifar(TestData.syntheticCifar().toString(), Split.TRAIN).withClass("ship").withLimit(40);
        return new TrainJob.Request(cfg, s, data, CifarLocator.defaults(), dir, resume, false, Progress.Mode.NONE, null, null);
    }

    @Test
    void halfCheckpointResumeHalfIsBitIdenticalToOneGo(@TempDir Path tmp) throws IOException {
        Path straight = tmp.resolve("straight"), split = tmp.resolve("split");
        try (Backend be = Backends.cpu(2)) {
            TrainJob.run(be, request(straight, N, null), QUIET);
        }
        try (Backend be = Backends.cpu(2)) {
            TrainJob.run(be, request(split, N / 2, null), QUIET);
        }
        Checkpoint half = CheckpointFile.read(split.resolve("model.ckpt"));
        assertEquals(new TrainingState(N / 2, 1, 2), half.progress(), "5 steps of 3 per epoch: epoch 1, batch 2");
        try (Backend be = Backends.cpu(2)) {  // a fresh backend and model, as a new process would have
            TrainJob.Request r = request(split, N, half);
            TrainJob.run(be, r, QUIET);
        }
        assertSameState(CheckpointFile.read(straight.resolve("model.ckpt")), CheckpointFile.read(split.resolve("model.ckpt")));
        assertEquals(Files.readAllLines(straight.resolve("loss.jsonl")), Files.readAllLines(split.resolve("loss.jsonl")),
                "the loss log is the same, each step once");
    }

    /** Ctrl-C: a stop request ends the run after the current step with a checkpoint; resuming it gives the same result. */
    @Test
    void stopRequestSavesAResumableCheckpoint(@TempDir Path tmp) {
        Path straight = tmp.resolve("straight"), stopped = tmp.resolve("stopped");
        try (Backend be = Backends.cpu(2)) {
            TrainJob.run(be, request(straight, N, null), QUIET);
        }
        Checkpoint at;
        try (Backend be = Backends.cpu(2)) {
            // A log interval of 1 step lets a loss sink see step 3 and ask to stop, as the Ctrl-C hook would.
            org.ddpm4j.data.ImageSet ships = org.ddpm4j.data.ClassSelector.select(
                    org.ddpm4j.data.Cifar10Reader.read(TestData.syntheticCifar(), Split.TRAIN), "ship").first(40);
            TrainSettings s = TrainerTest.settings(16, 1e-3, 5, N, 11).withLogEvery(1);
            StopSignal stop = new StopSignal();
            try (org.ddpm4j.model.UNet net = be.createUNet(TestData.tiny(100), 16)) {
                net.init(11);
                Path ck = stopped.resolve("model.ckpt");
                Trainer t = new Trainer(net, ships, s, new TrainingHooks() {
                    @Override
                    public void checkpoint(TrainingState state) {
                        org.ddpm4j.checkpoint.CheckpointMeta meta = new org.ddpm4j.checkpoint.CheckpointMeta(net.config(), s,
                                request(stopped, N, null).data(), 40, null);
                        CheckpointFile.write(ck, new Checkpoint(meta,
                                org.ddpm4j.checkpoint.ModelState.capture(net, org.ddpm4j.diffusion.TimeTable.STANDARD),
                                org.ddpm4j.checkpoint.OptimizerState.capture(net), state));
                    }
                }, Progress.create(Progress.Mode.NONE, QUIET));
                t.addLossSink((first, l) -> {
                    if (first + l.length >= 4) stop.request();
                });
                TrainingState end = t.run(TrainingState.START, stop);
                assertEquals(4, end.globalStep(), "stopped right after the step that asked");
                at = CheckpointFile.read(ck);
                assertEquals(end, at.progress());
            }
        }
        try (Backend be = Backends.cpu(2)) {
            TrainJob.run(be, request(stopped, N, at), QUIET);
        }
        assertSameState(CheckpointFile.read(straight.resolve("model.ckpt")), CheckpointFile.read(stopped.resolve("model.ckpt")));
    }

    static void assertSameState(Checkpoint a, Checkpoint b) {
        assertEquals(a.progress(), b.progress());
        assertArrayEquals(a.model().params(), b.model().params(), "parameters bit for bit");
        assertArrayEquals(a.optimizer().moments(), b.optimizer().moments(), "Adam moments bit for bit");
        assertArrayEquals(a.model().buffers(), b.model().buffers(), "BatchNorm running statistics bit for bit");
        assertEquals(a.model().bnBatches(), b.model().bnBatches());
        assertEquals(a.optimizer().adamStep(), b.optimizer().adamStep());
        assertEquals(N, a.optimizer().adamStep());
    }
}
