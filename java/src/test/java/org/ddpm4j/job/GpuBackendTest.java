package org.ddpm4j.job;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Map;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.backend.Device;
import org.ddpm4j.backend.Precision;
import org.ddpm4j.binding.Backends;
import org.ddpm4j.checkpoint.CheckpointFile;
import org.ddpm4j.checkpoint.ModelState;
import org.ddpm4j.checkpoint.SafeTensors;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.sample.SampleOptions;
import org.ddpm4j.sample.SampleResult;
import org.ddpm4j.sample.Sampler;
import org.ddpm4j.testing.Cli;
import org.ddpm4j.testing.Golden;
import org.ddpm4j.testing.TestData;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Java side on a CUDA backend (run with -Dgroups=gpu on a GPU machine). */
@Tag("gpu")
class GpuBackendTest {
    @Test
    void goldenEvalForwardOnCudaMatchesPyTorch() {
        try (Backend be = Backends.open(Device.CUDA, 0, null, Precision.FP32)) {
            assertEquals("cuda", be.name());
            ModelState st = ModelFiles.readSafetensors(Golden.weights(), UNetConfig.seed());
            Map<String, SafeTensors.Tensor> io = SafeTensors.read(Golden.io()).tensors();
            float[] x = io.get("x").toFloats(), ref = io.get("eval_out").toFloats();
            int n = (int) io.get("t").shape()[0];
            int[] t = new int[n];
            ByteBuffer b = ByteBuffer.wrap(io.get("t").data()).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < n; i++) t[i] = (int) b.getLong(8 * i);
            try (UNet net = be.createUNet(st.config(), n)) {
                st.applyTo(net);
                float[] out = net.forward(x, t, n, false);
                for (int i = 0; i < ref.length; i++) {
                    assertTrue(Math.abs(out[i] - ref[i]) <= 1e-4 + 1e-3 * Math.abs(ref[i]), "element " + i + ": " + out[i] + " vs " + ref[i]);
                }
            }
        }
    }

    @Test
    void trainResumeAndSampleOnCuda(@TempDir Path dir) throws Exception {
        String[] common = {"--device", "cuda", "--base-width", "8", "--timesteps", "100", "--batch", "64",
                "--cifar-dir", TestData.syntheticCifar().toString(), "--progress", "plain", "--sample-every", "0"};
        Path run = dir.resolve("run");
        // The synthetic folder's 500 training images make 8 steps an epoch: --steps ends the run, not --epochs.
        Cli.Result r = Cli.run(concat(new String[] {"train", "--out", run.toString(), "--steps", "300", "--epochs", "100"}, common));
        assertEquals(0, r.code(), r.toString());
        var ck = CheckpointFile.read(run.resolve("model.ckpt"));
        assertEquals(300, ck.progress().globalStep());
        var log = org.ddpm4j.train.LossLog.read(run.resolve("loss.jsonl"));
        assertEquals(300, log.size());
        double first = 0, last = 0;
        for (int i = 0; i < 20; i++) {
            first += log.get(i).loss() / 20;
            last += log.get(299 - i).loss() / 20;
        }
        assertTrue(last < 0.5 * first, "loss falls on CUDA: " + first + " -> " + last);
        r = Cli.run("train", "--out", run.toString(), "--resume", "--steps", "320", "--device", "cuda",
                "--cifar-dir", TestData.syntheticCifar().toString());
        assertEquals(0, r.code(), r.toString());
        assertEquals(320, org.ddpm4j.train.LossLog.read(run.resolve("loss.jsonl")).size());
        try (Backend be = Backends.open(Device.CUDA, 0, null, Precision.FP32)) {
            ModelState st = CheckpointFile.read(run.resolve("model.ckpt")).model();
            SampleResult a, c;
            try (UNet net = be.createUNet(st.config(), 16)) {
                st.applyTo(net);
                a = Sampler.run(net, new SampleOptions(16, 1, 50, 0, 2), null);
            }
            try (UNet net = be.createUNet(st.config(), 5)) {
                st.applyTo(net);
                c = Sampler.run(net, new SampleOptions(16, 1, 50, 0, 2), null);
            }
            assertTrue(a.images().allFinite());
            float[] x = a.images().data(), y = c.images().data();
            double mean = 0;
            for (int i = 0; i < x.length; i++) mean += Math.abs(x[i] - y[i]) / x.length;
            assertTrue(mean < 1e-2, "chunking barely changes CUDA samples (mean abs diff " + mean + ")");
        }
    }

    static String[] concat(String[] a, String[] b) {
        String[] r = new String[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
