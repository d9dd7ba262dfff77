package org.ddpm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.binding.Backends;
import org.ddpm4j.data.ImageSet;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.optim.AdamConfig;
import org.ddpm4j.setting.InvalidSettingException;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.testing.RequiresCifar;
import org.ddpm4j.testing.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainerTest {
    static TrainSettings settings(int batch, double lr, int epochs, long maxSteps, long seed) {
        return new TrainSettings("test", batch, AdamConfig.withLr(lr), epochs, maxSteps, true, seed, TimeTable.STANDARD,
                0, 1, 0, 25);
    }

    /** A tiny model (base 4, depth 2, 32x32, T = 1000) on synthetic images: the DDPM loss must fall clearly. */
    @Test
    void lossFallsOnSyntheticImages(@TempDir Path dir) {
        assertLossFallsClearly(TestData.syntheticImages(2000, 1), "synthetic", dir);
    }

    /** The same on the real CIFAR-10 images: what the product trains on learns as well. */
    @Test
    @RequiresCifar
    void lossFallsOnRealCifar(@TempDir Path dir) {
        assertLossFallsClearly(TestData.train(), "real CIFAR-10", dir);
    }

    /**
     * 400 steps of 32 images: the mean loss of the last 40 steps is under half that of the first 20, every loss is
     * finite, and the loss log holds every step's loss once, in order.
     */
    static void assertLossFallsClearly(ImageSet data, String what, Path dir) {
        UNetConfig cfg = TestData.tiny(1000);
        int steps = 400;
        TrainSettings s = settings(32, 2e-3, 1000, steps, 1);  // --steps ends it, whatever the epochs
        List<Float> losses = new ArrayList<>();
        try (Backend be = Backends.cpu(0); UNet net = be.createUNet(cfg, 32);
             LossLog log = LossLog.open(dir.resolve("loss.jsonl"), 0, 1563)) {
            net.init(1);
            Trainer t = new Trainer(net, data, s, new TrainingHooks() {}, Progress.create(Progress.Mode.NONE, System.err));
            t.addLossSink((first, l) -> {
                assertEquals(losses.size(), first, "losses arrive in order, each step once");
                for (float v : l) losses.add(v);
            }).addLossSink(log);
            long t0 = System.nanoTime();
            TrainingState end = t.run(TrainingState.START, new StopSignal());
            double sec = (System.nanoTime() - t0) / 1e9;
            assertEquals(steps, end.globalStep());
            assertEquals(steps, losses.size());
            double first = mean(losses.subList(0, 20)), last = mean(losses.subList(steps - 40, steps));
            System.out.printf("tiny model, %d steps of 32 %s images in %.1f s: loss %.4f -> %.4f%n", steps, what, sec, first, last);
            assertTrue(first > 0.5, "an untrained model predicts the noise badly, loss " + first);
            assertTrue(last < 0.5 * first, "loss must fall clearly: first 20 steps " + first + ", last 40 " + last);
            for (float v : losses) assertTrue(Float.isFinite(v));
        }
        List<LossLog.Entry> logged = LossLog.read(dir.resolve("loss.jsonl"));
        assertEquals(steps, logged.size());
        for (int i = 0; i < steps; i++) {
            assertEquals(i, logged.get(i).step());
            assertEquals(losses.get(i), logged.get(i).loss());
        }
    }

    /**
     * The Java limit on --log-every is the native loss ring's size, and a run that reads its losses only
     * every ring-full of steps gets every one of them (it crashed once when the two constants disagreed).
     */
    @Test
    void logEveryAtTheLossRingSizeDeliversEveryLoss() {
        UNetConfig cfg = UNetConfig.seed().withBaseWidth(2).withDepth(1).withTimesteps(10).withImage(3, 8, 8);
        try (Backend be = Backends.cpu(1); UNet net = be.createUNet(cfg, 1)) {
            assertEquals(TrainSettings.MAX_LOG_EVERY, net.lossRing(), "TrainSettings.MAX_LOG_EVERY is UNet::kLossRing");
            int ring = net.lossRing();
            long steps = 2L * ring + 3;
            TrainSettings s = new TrainSettings("test", 1, AdamConfig.withLr(1e-3), 1, steps, true, 1, TimeTable.STANDARD,
                    0, 1, 0, ring);
            net.init(1);
            List<Float> losses = new ArrayList<>();
            Trainer t = new Trainer(net, CheckpointCadenceTest.synthetic((int) steps), s, new TrainingHooks() {},
                    Progress.create(Progress.Mode.NONE, System.err));
            t.addLossSink((first, l) -> {
                assertEquals(losses.size(), first, "losses arrive in order, each step once");
                for (float v : l) losses.add(v);
            });
            assertEquals(steps, t.run(TrainingState.START, new StopSignal()).globalStep());
            assertEquals(steps, losses.size());
            for (float v : losses) assertTrue(Float.isFinite(v) && v > 0);
        }
    }

    static double mean(List<Float> v) {
        double s = 0;
        for (float x : v) s += x;
        return s / v.size();
    }

    @Test
    void lossLogResumeDropsStepsAfterTheCheckpoint(@TempDir Path dir) {
        Path f = dir.resolve("loss.jsonl");
        try (LossLog log = LossLog.open(f, 0, 4)) {
            log.accept(0, new float[] {1f, 0.9f, 0.8f, 0.7f, 0.6f, 0.5f});
        }
        try (LossLog log = LossLog.open(f, 4, 4)) {  // resumed at step 4: steps 4 and 5 are trained again
            log.accept(4, new float[] {0.55f, 0.45f});
        }
        List<LossLog.Entry> e = LossLog.read(f);
        assertEquals(6, e.size());
        assertEquals(0.55f, e.get(4).loss());
        assertEquals(5, e.get(5).step());
    }

    @Test
    void settingsRejectImpossibleValues() {
        assertThrows(IllegalArgumentException.class, () -> settings(0, 1e-3, 1, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> settings(4, -1, 1, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> settings(4, 1e-3, 0, 0, 0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> settings(4, Double.NaN, 1, 0, 0));
        assertEquals(Setting.LR, assertInstanceOf(InvalidSettingException.class, e).setting(), e.getMessage());
        assertEquals("lr must be a positive number, got NaN", e.getMessage());
    }

    @Test
    void presetsMatchTheNotebookAndTheIssue() {
        TrainSettings seed = Preset.SEED.settings();
        assertEquals(512, seed.batch());
        assertEquals(1e-4, seed.adam().lr());
        assertEquals(0.9, seed.adam().beta1());
        assertEquals(0.999, seed.adam().beta2());
        assertEquals(1e-8, seed.adam().eps());
        assertEquals(15, seed.epochs());
        assertEquals(TimeTable.NOTEBOOK, seed.timeTable());
        assertEquals(UNetConfig.seed(), Preset.SEED.model());
        assertEquals(64, Preset.SEED.model().baseWidth());
        assertEquals(4, Preset.SEED.model().depth());
        assertEquals(1000, Preset.SEED.model().timesteps());
        assertEquals(1e-4f, Preset.SEED.model().betaStart());
        assertEquals(0.02f, Preset.SEED.model().betaEnd());
        assertEquals(3e-4, Preset.FINETUNE_LR);
        assertEquals(10, Preset.FINETUNE_EPOCHS);
        assertTrue(Preset.TINY.model().baseWidth() < 64 && Preset.TINY.model().depth() < 4);
    }
}
