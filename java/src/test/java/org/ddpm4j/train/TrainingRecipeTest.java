package org.ddpm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Path;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.binding.Backends;
import org.ddpm4j.checkpoint.Checkpoint;
import org.ddpm4j.checkpoint.CheckpointFile;
import org.ddpm4j.job.TrainJob;
import org.ddpm4j.model.UNet;
import org.ddpm4j.optim.LrSchedule;
import org.ddpm4j.testing.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The training recipe beyond the notebook -- a learning-rate schedule, gradient clipping and
 * Min-SNR-gamma loss weighting -- in training: the rate of each step is the scheduled one (a
 * warm-up's first update moves nothing), the decay's end is recorded when a run starts, each
 * setting changes the result, and a run with all three resumes bit for bit.
 */
class TrainingRecipeTest {
    static TrainJob.Request request(Path dir, long maxSteps, Checkpoint resume, LrSchedule schedule) {
        TrainJob.Request r = ResumeEquivalenceTest.request(dir, maxSteps, resume);
        TrainSettings s = resume != null ? resume.meta().training().withMaxSteps(maxSteps)
                : r.settings().withLrSchedule(schedule).withMaxGradNorm(0.5).withSnrGamma(5);
        return new TrainJob.Request(r.model(), s, r.data(), r.cifar(), r.outDir(), r.resumeFrom(), r.force(), r.progress(),
                r.initial(), r.finetunedFrom());
    }

    @Test
    void aWarmupsFirstUpdateHasRateZeroAndTheNextDoNot() {
        var data = TestData.syntheticImages(64, 3);
        for (int steps : new int[] {1, 2}) {
            TrainSettings s = TrainerTest.settings(16, 1e-2, 1, steps, 4).withLrSchedule(new LrSchedule(LrSchedule.Kind.CONSTANT, 5, 0));
            try (Backend be = Backends.cpu(1); UNet net = be.createUNet(TestData.tiny(100), 16)) {
                net.init(4);
                float[] before = net.params(null);
                new Trainer(net, data, s, new TrainingHooks() {}, Progress.create(Progress.Mode.NONE, System.err))
                        .run(TrainingState.START, new StopSignal());
                if (steps == 1) assertArrayEquals(before, net.params(null), "step 0 of a warm-up: lr 0, the weights unchanged");
                else assertFalse(java.util.Arrays.equals(before, net.params(null)), "step 1: lr 1/5 of the base");
            }
        }
    }

    /** With gradients clipped to norm 0.5 and Min-SNR-5 weights (each acts: the same run without it ends elsewhere). */
    @Test
    void aCosineRunResumesBitForBitAndKeepsItsDecaysEnd(@TempDir Path tmp) throws IOException {
        int n = ResumeEquivalenceTest.N;
        LrSchedule cosine = new LrSchedule(LrSchedule.Kind.COSINE, 3, n);  // ends at the full run's last step
        Path straight = tmp.resolve("straight"), split = tmp.resolve("split"), open = tmp.resolve("open");
        try (Backend be = Backends.cpu(2)) {
            TrainJob.run(be, request(straight, n, null, cosine), ResumeEquivalenceTest.QUIET);
            TrainJob.run(be, request(split, n / 2, null, cosine), ResumeEquivalenceTest.QUIET);
            TrainJob.run(be, request(open, n / 2, null, new LrSchedule(LrSchedule.Kind.COSINE, 3, 0)), ResumeEquivalenceTest.QUIET);
        }
        Checkpoint half = CheckpointFile.read(split.resolve("model.ckpt"));
        assertEquals(cosine, half.meta().training().lrSchedule(), "recorded in the checkpoint");
        assertEquals(0.5, half.meta().training().maxGradNorm());
        assertEquals(5.0, half.meta().training().snrGamma());
        assertEquals(n / 2, CheckpointFile.read(open.resolve("model.ckpt")).meta().training().lrSchedule().decaySteps(),
                "not given: the run's last step when it started");
        try (Backend be = Backends.cpu(2)) {
            TrainJob.run(be, request(split, n, half, null), ResumeEquivalenceTest.QUIET);
        }
        Checkpoint a = CheckpointFile.read(straight.resolve("model.ckpt")), b = CheckpointFile.read(split.resolve("model.ckpt"));
        ResumeEquivalenceTest.assertSameState(a, b);
        // Another schedule, no clipping or no weighting trains differently.
        Path constant = tmp.resolve("constant"), unclipped = tmp.resolve("unclipped"), unweighted = tmp.resolve("unweighted");
        try (Backend be = Backends.cpu(2)) {
            TrainJob.run(be, request(constant, n, null, LrSchedule.CONSTANT), ResumeEquivalenceTest.QUIET);
            TrainJob.Request r = request(unclipped, n, null, cosine);
            TrainJob.run(be, new TrainJob.Request(r.model(), r.settings().withMaxGradNorm(0), r.data(), r.cifar(), r.outDir(),
                    null, false, r.progress(), null, null), ResumeEquivalenceTest.QUIET);
            r = request(unweighted, n, null, cosine);
            TrainJob.run(be, new TrainJob.Request(r.model(), r.settings().withSnrGamma(0), r.data(), r.cifar(), r.outDir(),
                    null, false, r.progress(), null, null), ResumeEquivalenceTest.QUIET);
        }
        for (Path other : new Path[] {constant, unclipped, unweighted}) {
            assertFalse(java.util.Arrays.equals(a.model().params(), CheckpointFile.read(other.resolve("model.ckpt")).model().params()),
                    other.getFileName().toString());
        }
    }

    static TrainJob.Request withAdam(TrainJob.Request r, TrainSettings s) {
        return new TrainJob.Request(r.model(), s, r.data(), r.cifar(), r.outDir(), r.resumeFrom(), r.force(), r.progress(),
                r.initial(), r.finetunedFrom());
    }

    /**
     * AdamW (diffusers' optimizer, betas 0.95/0.999 and a weight decay) is recorded in the checkpoint, resumes bit
     * for bit, and trains otherwise than Adam with the same values (the decay is decoupled, not an L2 term) and than
     * AdamW without decay; AdamW without decay is Adam with those betas, bit for bit.
     */
    @Test
    void anAdamwRunResumesBitForBitAndDiffersFromAdam(@TempDir Path tmp) throws IOException {
        int n = ResumeEquivalenceTest.N;
        Path straight = tmp.resolve("straight"), split = tmp.resolve("split");
        Path l2 = tmp.resolve("adam-l2"), noDecay = tmp.resolve("adamw-0"), adam = tmp.resolve("adam-0");
        java.util.function.BiFunction<Path, Long, TrainJob.Request> adamw = (dir, steps) -> {
            TrainJob.Request r = ResumeEquivalenceTest.request(dir, steps, null);
            return withAdam(r, r.settings().withOptimizer(org.ddpm4j.optim.Optimizer.ADAMW, 0.95, 0.999, 1e-8, 0.1));
        };
        try (Backend be = Backends.cpu(2)) {
            TrainJob.run(be, adamw.apply(straight, (long) n), ResumeEquivalenceTest.QUIET);
            TrainJob.run(be, adamw.apply(split, (long) n / 2), ResumeEquivalenceTest.QUIET);
            Checkpoint half = CheckpointFile.read(split.resolve("model.ckpt"));
            assertEquals(new org.ddpm4j.optim.AdamConfig(half.meta().training().adam().lr(), 0.95, 0.999, 1e-8, 0.1,
                    org.ddpm4j.optim.Optimizer.ADAMW), half.meta().training().adam(), "recorded in the checkpoint");
            TrainJob.run(be, withAdam(ResumeEquivalenceTest.request(split, n, half), half.meta().training().withMaxSteps(n)),
                    ResumeEquivalenceTest.QUIET);
            TrainJob.Request r = ResumeEquivalenceTest.request(l2, n, null);
            TrainJob.run(be, withAdam(r, r.settings().withOptimizer(org.ddpm4j.optim.Optimizer.ADAM, 0.95, 0.999, 1e-8, 0.1)),
                    ResumeEquivalenceTest.QUIET);
            r = ResumeEquivalenceTest.request(noDecay, n, null);
            TrainJob.run(be, withAdam(r, r.settings().withOptimizer(org.ddpm4j.optim.Optimizer.ADAMW, 0.95, 0.999, 1e-8, 0)),
                    ResumeEquivalenceTest.QUIET);
            r = ResumeEquivalenceTest.request(adam, n, null);
            TrainJob.run(be, withAdam(r, r.settings().withOptimizer(org.ddpm4j.optim.Optimizer.ADAM, 0.95, 0.999, 1e-8, 0)),
                    ResumeEquivalenceTest.QUIET);
        }
        Checkpoint a = CheckpointFile.read(straight.resolve("model.ckpt"));
        ResumeEquivalenceTest.assertSameState(a, CheckpointFile.read(split.resolve("model.ckpt")));
        for (Path other : new Path[] {l2, noDecay}) {
            assertFalse(java.util.Arrays.equals(a.model().params(), CheckpointFile.read(other.resolve("model.ckpt")).model().params()),
                    other.getFileName().toString());
        }
        assertArrayEquals(CheckpointFile.read(adam.resolve("model.ckpt")).model().params(),
                CheckpointFile.read(noDecay.resolve("model.ckpt")).model().params(), "AdamW without decay is Adam");
    }
}
