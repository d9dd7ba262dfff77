package org.ddpm4j.api;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.ddpm4j.checkpoint.Checkpoint;
import org.ddpm4j.checkpoint.CheckpointFile;
import org.ddpm4j.data.DataSpec;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.testing.Cli;
import org.ddpm4j.train.LossLog;
import org.ddpm4j.train.Preset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Trainer from Java: images from an Iterable, the listener, stop requests, resuming, fine-tuning and its errors. */
class TrainerApiTest {
    @TempDir
    Path dir;

    /** What a listener heard: every loss with its step, and each epoch's end. */
    static final class Heard implements TrainingListener {
        final List<Float> losses = new ArrayList<>();
        final List<Integer> epochs = new ArrayList<>();
        final List<Double> means = new ArrayList<>();
        final List<Double> seconds = new ArrayList<>();
        long firstStep = -1;

        @Override
        public void losses(long first, float[] l) {
            if (firstStep < 0) firstStep = first;
            assertEquals(firstStep + losses.size(), first, "each step once, in order");
            for (float v : l) losses.add(v);
        }

        @Override
        public void epochEnded(int epoch, double meanLoss, double s) {
            epochs.add(epoch);
            means.add(meanLoss);
            seconds.add(s);
        }
    }

    @Test
    void theListenerHearsEveryLossOnceAndEachEpochsMean() throws Exception {
        Heard heard = new Heard();
        Path run = dir.resolve("run");
        TrainingResult r = Discs.tiny().data(TrainingData.images(Discs.pictures(24, 1))).epochs(3).outputDir(run)
                .listener(heard).train();
        assertEquals(9, r.endStep(), "24 images in batches of 8: 3 steps x 3 epochs");
        assertEquals(9, r.stepsTrained());
        assertFalse(r.stopped());
        assertEquals("the end of epoch 3 (epochs 3, 3 steps each)", r.endReason(), "settings named as the API names them");
        assertEquals(0, heard.firstStep);
        assertEquals(9, heard.losses.size());
        List<LossLog.Entry> log = LossLog.read(r.lossLog());
        for (int i = 0; i < 9; i++) assertEquals(log.get(i).loss(), heard.losses.get(i), "the loss log's value of step " + i);
        assertEquals(List.of(1, 2, 3), heard.epochs);
        for (int e = 0; e < 3; e++) {
            double mean = (heard.losses.get(3 * e) + heard.losses.get(3 * e + 1) + heard.losses.get(3 * e + 2)) / 3.0;
            assertEquals(mean, heard.means.get(e), 1e-6 * mean, "epoch " + (e + 1) + "'s mean loss");
            assertTrue(heard.seconds.get(e) > 0);
        }
        assertEquals(run.resolve("model.ckpt"), r.checkpoint());
        assertTrue(r.summary().contains("trained 9 steps"), r.summary());
        assertTrue(r.times().get("total") > 0);
        Checkpoint c = CheckpointFile.read(r.checkpoint());
        assertEquals(DataSpec.MEMORY, c.meta().data().source(), "recorded as images in memory");
        assertEquals(24, c.meta().images());
    }

    @Test
    void picturesAndTheirArraysTrainTheSameModel() throws Exception {
        List<BufferedImage> pictures = Discs.pictures(16, 2);
        TrainingResult a = Discs.tiny().data(TrainingData.images(pictures)).steps(4).outputDir(dir.resolve("a")).train();
        TrainingResult b = Discs.tiny().data(TrainingData.arrays(Discs.chw(pictures), 3, 32, 32)).steps(4)
                .outputDir(dir.resolve("b")).train();
        assertArrayEquals(CheckpointFile.read(a.checkpoint()).model().params(), CheckpointFile.read(b.checkpoint()).model().params(),
                "the same pixels, the same training");
    }

    @Test
    void aStopRequestFromTheListenerEndsTheRunAfterThatStep() {
        List<Long> stoppedAfter = new ArrayList<>();
        Trainer t = Discs.tiny().data(TrainingData.images(Discs.pictures(16, 3))).epochs(10).outputDir(dir.resolve("run"));
        t.listener(new TrainingListener() {
            @Override
            public void losses(long firstStep, float[] losses) {
                if (firstStep + losses.length >= 5 && stoppedAfter.isEmpty()) {
                    stoppedAfter.add(firstStep + losses.length);
                    t.requestStop();
                }
            }
        });
        TrainingResult r = t.train();
        assertEquals(List.of(5L), stoppedAfter);
        assertTrue(r.stopped());
        assertEquals(5, r.endStep());
        assertEquals(5, CheckpointFile.read(r.checkpoint()).progress().globalStep(), "a checkpoint at the stop");
        assertThrows(IllegalStateException.class, t::train, "a Trainer trains once");
    }

    /** The recipe's settings through the API: each step's gradient norm reaches the listener after its loss. */
    @Test
    void aClippingRunTellsTheListenerItsGradientNorms() {
        List<String> heard = new ArrayList<>();
        List<Float> norms = new ArrayList<>();
        Trainer t = Discs.tiny().data(TrainingData.images(Discs.pictures(16, 6))).steps(4).logEvery(1)
                .lrSchedule(org.ddpm4j.optim.LrSchedule.Kind.COSINE).lrWarmup(1).maxGradNorm(0.5).snrGamma(5)
                .emaPower(0.75).optimizer(org.ddpm4j.optim.Optimizer.ADAMW).adamBeta1(0.95).adamBeta2(0.99).adamEps(1e-7)
                .weightDecay(1e-6).outputDir(dir.resolve("recipe"));
        t.listener(new TrainingListener() {
            @Override
            public void losses(long firstStep, float[] losses) {
                heard.add("losses " + firstStep);
            }

            @Override
            public void gradNorms(long firstStep, float[] n) {
                heard.add("norms " + firstStep);
                for (float v : n) norms.add(v);
            }
        });
        TrainingResult r = t.train();
        assertEquals(List.of("losses 0", "norms 0", "losses 1", "norms 1", "losses 2", "norms 2", "losses 3", "norms 3"), heard);
        for (float v : norms) assertTrue(v > 0 && Float.isFinite(v), norms.toString());
        var s = CheckpointFile.read(r.checkpoint()).meta().training();
        assertEquals(new org.ddpm4j.optim.LrSchedule(org.ddpm4j.optim.LrSchedule.Kind.COSINE, 1, 4), s.lrSchedule());
        assertEquals(0.5, s.maxGradNorm());
        assertEquals(5.0, s.snrGamma());
        assertEquals(0.75, s.emaPower());
        assertEquals(new org.ddpm4j.optim.AdamConfig(s.adam().lr(), 0.95, 0.99, 1e-7, 1e-6, org.ddpm4j.optim.Optimizer.ADAMW), s.adam());
    }

    @Test
    void aResumedRunFromMemoryContinuesBitForBitWithTheSameImages() throws Exception {
        List<BufferedImage> pictures = Discs.pictures(16, 4);
        TrainingResult straight = Discs.tiny().data(TrainingData.images(pictures)).epochs(10).steps(6)
                .outputDir(dir.resolve("straight")).train();
        Path split = dir.resolve("split");
        Discs.tiny().data(TrainingData.images(pictures)).epochs(10).steps(3).outputDir(split).train();
        // Repeating the run's own values is fine; the length may change.
        TrainingResult r = Trainer.resume(split).data(TrainingData.images(pictures)).baseWidth(4).timesteps(40).batch(8).lr(1e-3)
                .steps(6).compute(Compute.cpu()).log(Discs.QUIET).train();
        assertEquals(3, r.stepsTrained());
        Checkpoint a = CheckpointFile.read(straight.checkpoint()), b = CheckpointFile.read(r.checkpoint());
        assertArrayEquals(a.model().params(), b.model().params());
        assertArrayEquals(a.model().emaParams(), b.model().emaParams());
    }

    @Test
    void aRunFromMemoryCannotBeResumedWithoutItsImages() throws Exception {
        Path run = dir.resolve("run");
        Discs.tiny().data(TrainingData.images(Discs.pictures(16, 5))).steps(2).outputDir(run).train();
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> Trainer.resume(run).steps(4).compute(Compute.cpu()).log(Discs.QUIET).train());
        assertTrue(e.getMessage().contains("trained on images a program held in memory"), e.getMessage());
        e = assertThrows(InvalidInputException.class, () -> Trainer.resume(run).data(TrainingData.images(Discs.pictures(8, 5)))
                .steps(4).compute(Compute.cpu()).log(Discs.QUIET).train());
        assertTrue(e.getMessage().contains("it trained on 16 images, images in memory now has 8"), e.getMessage());
        Cli.Result cli = Cli.run("train", "--resume", "--out", run.toString(), "--steps", "4", "--device", "cpu");
        assertEquals(2, cli.code(), cli.toString());
        assertTrue(cli.err().contains("trained on images a program held in memory"), cli.toString());
        assertFalse(cli.err().contains("internal error"), cli.toString());
    }

    @Test
    void aResumeThatWouldChangeTheRunNamesEverySetting() throws Exception {
        Path run = dir.resolve("run");
        List<BufferedImage> pictures = Discs.pictures(16, 6);
        Discs.tiny().data(TrainingData.images(pictures)).steps(2).seed(3).outputDir(run).train();
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Trainer.resume(run)
                .data(TrainingData.images(pictures)).lr(0.01).seed(4).emaDecay(0.5).depth(3).timeTable(TimeTable.NOTEBOOK)
                .compute(Compute.cpu()).log(Discs.QUIET).train());
        for (String s : new String[] {"lr 0.01 (the run has 0.001)", "seed 4 (the run has 3)", "emaDecay 0.5 (the run has 0.999)",
                "depth 3 (the run has 2)", "timeTable notebook (the run has standard)", "a resumed run keeps its checkpoint's settings"}) {
            assertTrue(e.getMessage().contains(s), "'" + s + "' in " + e.getMessage());
        }
        String flags = e.message(Setting::flag);
        for (String s : new String[] {"--lr 0.01 (the run has 0.001)", "--ema-decay 0.5 (the run has 0.999)", "--time-table notebook",
                "start a new run with --force or another --out"}) {
            assertTrue(flags.contains(s), "'" + s + "' in " + flags);
        }
        assertEquals(List.of(Setting.DEPTH, Setting.LR, Setting.TIME_TABLE, Setting.EMA_DECAY, Setting.SEED), e.settings().subList(0, 5));
        e = assertThrows(InvalidInputException.class, () -> Trainer.resume(run).data(TrainingData.cifar10()).compute(Compute.cpu())
                .log(Discs.QUIET).train());
        assertTrue(e.getMessage().contains("data cifar10 (the run has memory)"), e.getMessage());
        assertEquals(2, CheckpointFile.read(run.resolve("model.ckpt")).progress().globalStep(), "nothing was trained");
    }

    @Test
    void labelledPicturesTrainAConditionalModelAndAFineTuneOfOneClass() throws Exception {
        List<BufferedImage> pictures = Discs.pictures(24, 7);
        List<String> names = new ArrayList<>();
        for (int i = 0; i < 24; i++) names.add(i % 3 == 0 ? "ring" : "disc");
        Path run = dir.resolve("cond");
        TrainingResult r = Discs.tiny().conditional(true).data(TrainingData.images(pictures, names)).steps(3).outputDir(run).train();
        Checkpoint c = CheckpointFile.read(r.checkpoint());
        assertEquals(2, c.meta().model().numClasses());
        assertEquals(List.of("disc", "ring"), c.meta().classNames(), "classes in name order");

        Path ft = dir.resolve("ft");
        TrainingResult f = Trainer.fineTune(r.checkpoint()).data(TrainingData.images(pictures, names).onlyClass("ring")).steps(2)
                .batch(4).outputDir(ft).compute(Compute.cpu()).log(Discs.QUIET).train();
        Checkpoint fc = CheckpointFile.read(f.checkpoint());
        assertEquals(8, fc.meta().images(), "the 8 rings");
        assertEquals(Preset.FINETUNE_LR, fc.meta().training().adam().lr());
        assertEquals(r.checkpoint().toAbsolutePath().normalize().toString(), fc.meta().finetunedFrom());

        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Trainer.fineTune(r.checkpoint()).depth(3)
                .outputDir(dir.resolve("x")).log(Discs.QUIET).train());
        assertTrue(e.getMessage().contains("depth: a fine-tune keeps its base model's shape"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("x")));
    }

    @Test
    void badInputIsTypedAndLeavesNoFolder() {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Discs.tiny()
                .data(TrainingData.images(Discs.pictures(4, 8))).train());
        assertTrue(e.getMessage().contains("needs a run folder"), e.getMessage());
        e = assertThrows(InvalidInputException.class, () -> Discs.tiny().depth(9).outputDir(dir.resolve("x")).train());
        assertEquals("depth must be in [1, 8], got 9", e.getMessage());
        e = assertThrows(InvalidInputException.class, () -> Discs.tiny().imageSize(16)
                .data(TrainingData.images(Discs.pictures(4, 8))).outputDir(dir.resolve("x")).train());
        assertTrue(e.getMessage().contains("picture 0 is 32x32, the model needs 16x16"), e.getMessage());
        e = assertThrows(InvalidInputException.class, () -> TrainingData.arrays(List.of(new byte[5]), 3, 32, 32));
        assertTrue(e.getMessage().contains("image array 0 holds 5 bytes, expected 3072"), e.getMessage());
        e = assertThrows(InvalidInputException.class, () -> TrainingData.images(Collections.emptyList()));
        assertEquals("no pictures were given", e.getMessage());
        assertFalse(Files.exists(dir.resolve("x")));
    }

    @Test
    void aDivergedRunIsTypedWithItsStep() {
        Path run = dir.resolve("run");
        DivergedException e = assertThrows(DivergedException.class, () -> Discs.tiny().lr(1e9).epochs(3)
                .data(TrainingData.images(Discs.pictures(16, 9))).outputDir(run).train());
        assertTrue(e.getMessage().startsWith("training diverged"), e.getMessage());
        assertTrue(e.step() >= 0);
        assertFalse(Files.exists(run.resolve("model.ckpt")));
    }

    @Test
    void benchmarkTimesTheSetup() {
        BenchmarkResult b = Discs.tiny().batch(4).benchmark(1, 2);
        assertEquals("cpu", b.backend());
        assertEquals(4, b.batch());
        assertEquals(4, b.config().baseWidth());
        assertTrue(b.trainImagesPerSecond() > 0 && b.forwardImagesPerSecond() > 0 && b.peakMemoryBytes() > 0);
    }
}
