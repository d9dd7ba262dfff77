package org.ddpm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Path;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.binding.Backends;
import org.ddpm4j.checkpoint.Checkpoint;
import org.ddpm4j.checkpoint.CheckpointFile;
import org.ddpm4j.diffusion.NoiseSchedule;
import org.ddpm4j.job.TrainJob;
import org.ddpm4j.model.UNetConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A class-conditional run with an EMA on the cosine schedule resumes bit for bit as
 * {@link ResumeEquivalenceTest} checks for the notebook's model: the EMA, the label
 * dropout and everything else continue exactly, and the EMA differs from the weights.
 */
class EmaResumeTest {
    static TrainJob.Request request(Path dir, long maxSteps, Checkpoint resume) {
        TrainJob.Request r = ResumeEquivalenceTest.request(dir, maxSteps, resume);
        UNetConfig cfg = resume != null ? resume.meta().model()
                : r.model().withSchedule(NoiseSchedule.COSINE).withNumClasses(UNetConfig.CLASSES_FROM_DATA);
        TrainSettings s = resume != null ? resume.meta().training().withMaxSteps(maxSteps)
                : r.settings().withEmaDecay(0.9).withCondDrop(0.3);
        return new TrainJob.Request(cfg, s, r.data(), r.cifar(), r.outDir(), r.resumeFrom(), r.force(), r.progress(),
                r.initial(), r.finetunedFrom());
    }

    @Test
    void halfCheckpointResumeHalfIsBitIdenticalWithEmaAndClasses(@TempDir Path tmp) throws IOException {
        int n = ResumeEquivalenceTest.N;
        Path straight = tmp.resolve("straight"), split = tmp.resolve("split");
        try (Backend be = Backends.cpu(2)) {
            TrainJob.run(be, request(straight, n, null), ResumeEquivalenceTest.QUIET);
        }
        try (Backend be = Backends.cpu(2)) {
            TrainJob.run(be, request(split, n / 2, null), ResumeEquivalenceTest.QUIET);
        }
        Checkpoint half = CheckpointFile.read(split.resolve("model.ckpt"));
        assertEquals(10, half.meta().model().numClasses(), "conditional on CIFAR-10's classes");
        assertTrue(half.model().hasEma());
        try (Backend be = Backends.cpu(2)) {
            TrainJob.run(be, request(split, n, half), ResumeEquivalenceTest.QUIET);
        }
        Checkpoint a = CheckpointFile.read(straight.resolve("model.ckpt")), b = CheckpointFile.read(split.resolve("model.ckpt"));
        ResumeEquivalenceTest.assertSameState(a, b);
        assertArrayEquals(a.model().emaParams(), b.model().emaParams(), "the EMA bit for bit");
        assertArrayEquals(a.model().emaBuffers(), b.model().emaBuffers(), "the statistics' EMA bit for bit");
        assertFalse(java.util.Arrays.equals(a.model().emaParams(), a.model().params()), "the EMA is not the weights");
        assertEquals(a.meta().classNames().get(8), "ship");
    }
}
