package org.ddpm4j.bench;

import java.util.Random;
import org.ddpm4j.backend.OpKernel;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.optim.AdamConfig;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.ddpm4j.binding.Backends;

/**
 * The whole model: trainStep (uint8 pixels -> x0, t and eps drawn, noise-add,
 * forward, MSE, backward, Adam: UNet.trainStep) and sampleStep (one ancestral
 * step: eval-mode forward + reverse step: UNet.sampleStep), on the seed model
 * and the tiny one (`ddpm --preset tiny`). The summary reports img/s and GFLOP/s (model FLOPs, 3x the
 * forward for a training image).
 *
 * <p>UNet has no synchronize(); both ops run on the backend's one stream, so a
 * tiny OpKernel prepared on the same backend serves to wait for the device.
 */
@State(Scope.Benchmark)
public class UNetBench extends BackendBench {

    /** seed (base 64, depth 4, 3x32x32), tiny (base 16, depth 2) or b&lt;base&gt;d&lt;depth&gt;, e.g. b32d3. */
    @Param({"seed", "tiny"})
    public String model;

    @Param({"32"})
    public int batch;

    private UNet net;
    private OpKernel sync;
    private byte[] pixels;
    private final AdamConfig adam = AdamConfig.withLr(1e-4);
    private long step;
    private int t;
    private boolean training;

    @Setup(Level.Trial)
    public void setup(BenchmarkParams params) {
        openBackend();
        UNetConfig cfg = Shapes.model(model);
        net = be.createUNet(cfg, batch);
        net.init(0);
        sync = Backends.prepareOp(be, "noise_add", 1, 1, 1, 1, 1);
        pixels = new byte[batch * cfg.sampleSize()];
        new Random(1).nextBytes(pixels);
        training = params.getBenchmark().endsWith(".trainStep");
        if (!training) {
            net.sampleBegin(batch, 1, 0);
            t = cfg.timesteps() - 1;
        }
        sync.synchronize();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        try {
            if (net != null && training && step > 0) {
                float loss = net.losses(step - 1, 1)[0];
                if (!Float.isFinite(loss)) System.out.println("WARNING: training loss is " + loss + " after " + step + " steps");
            }
        } finally {
            if (sync != null) sync.close();
            if (net != null) net.close();
            sync = null;
            net = null;
            closeBackend();
        }
    }

    @Benchmark
    public void trainStep() {
        net.trainStep(pixels, null, batch, adam, 1, step++);
        sync.synchronize();
    }

    @Benchmark
    public void sampleStep() {
        if (t < 0) {  // a full chain done: start a new one (one Gaussian fill)
            net.sampleBegin(batch, 1, 0);
            t = net.config().timesteps() - 1;
        }
        net.sampleStep(t--);
        sync.synchronize();
    }
}
