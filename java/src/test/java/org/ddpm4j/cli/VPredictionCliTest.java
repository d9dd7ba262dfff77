package org.ddpm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import org.ddpm4j.api.Compute;
import org.ddpm4j.api.DiffusionModel;
import org.ddpm4j.api.SampleRequest;
import org.ddpm4j.checkpoint.CheckpointFile;
import org.ddpm4j.diffusion.Prediction;
import org.ddpm4j.sample.SamplerKind;
import org.ddpm4j.testing.Cli;
import org.ddpm4j.testing.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A v-prediction model from the command line: trained with --prediction v (recorded, shown,
 * refused as a change on --resume), sampled with every sampler, exported and imported back as a
 * v model.
 */
class VPredictionCliTest {
    @Test
    void aVModelTrainsSamplesAndRoundTrips(@TempDir Path dir) throws Exception {
        Path run = dir.resolve("v");
        String[] a = {"train", "--out", run.toString(), "--prediction", "v", "--steps", "4", "--limit", "64", "--sample-every", "0",
                "--progress", "none", "--cifar-dir", TestData.syntheticCifar().toString()};
        String[] all = new String[a.length + CliFeaturesTest.TINY.length];
        System.arraycopy(a, 0, all, 0, a.length);
        System.arraycopy(CliFeaturesTest.TINY, 0, all, a.length, CliFeaturesTest.TINY.length);
        Cli.Result r = CliFeaturesTest.ok(all);
        assertTrue(r.err().contains(", v-prediction"), r.toString());
        Path ckpt = run.resolve("model.ckpt");
        assertEquals(Prediction.V, CheckpointFile.read(ckpt).meta().model().prediction());
        CliErrorTest.fails("--prediction epsilon (the run has v)", "train", "--resume", "--out", run.toString(), "--prediction",
                "epsilon", "--device", "cpu");
        for (String sampler : new String[] {"ddpm", "ddim", "dpm++"}) {
            Path out = dir.resolve("s-" + sampler.replace("+", "p"));
            CliFeaturesTest.ok("sample", "--from", ckpt.toString(), "--out", out.toString(), "--count", "2", "--sampler", sampler,
                    "--device", "cpu");
            assertTrue(Files.exists(out.resolve("samples.png")), sampler);
        }
        Path st = dir.resolve("v.safetensors"), back = dir.resolve("back.ckpt");
        CliFeaturesTest.ok("export", "--from", ckpt.toString(), "--out", st.toString());
        CliFeaturesTest.ok("import", "--from", st.toString(), "--out", back.toString());
        assertEquals(Prediction.V, CheckpointFile.read(back).meta().model().prediction(), "kept through safetensors metadata");
        // predictNoise (for a v model eps = sqrt(abar) v + sqrt(1 - abar) x, test_ddim checks the formula) is the same
        // whichever file the model comes from; the Java API samples it with DPM-Solver++ too.
        try (DiffusionModel m = DiffusionModel.load(ckpt, Compute.cpu()); DiffusionModel b = DiffusionModel.load(st, Compute.cpu())) {
            float[] x = new float[m.info().config().sampleSize()];
            for (int i = 0; i < x.length; i++) x[i] = (float) Math.sin(i);
            assertArrayEquals(m.predictNoise(x, new int[] {5}), b.predictNoise(x, new int[] {5}));
            assertTrue(m.sample(SampleRequest.of(2).withSampler(SamplerKind.DPM_SOLVER, 5)).count() == 2);
        }
    }
}
