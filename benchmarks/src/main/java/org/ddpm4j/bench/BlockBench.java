package org.ddpm4j.bench;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.ddpm4j.binding.Backends;

/**
 * The UNet's building block, conv3x3 (Cin -> Cout) + BatchNorm (training
 * statistics) + ReLU, forward and backward (BN-ReLU backward, then the conv's
 * weight, bias and input gradients), at the shapes of the seed model's levels:
 * 64 channels at 32x32 down to 1024 at 2x2. FLOPs: OpKernel.flops() (conv only).
 */
@State(Scope.Benchmark)
public class BlockBench extends OpKernelBench {

    @Param({"32"})
    public int batch;

    /** CINxCOUT@HW: the seed model's second conv of each level. */
    @Param({"64x64@32", "128x128@16", "256x256@8", "512x512@4", "1024x1024@2"})
    public String shape;


    @Setup(Level.Trial)
    public void setup(BenchmarkParams params) {
        openBackend();
        Shapes.Block s = Shapes.Block.parse(shape);
        String kind = params.getBenchmark().endsWith(".backward") ? "block_backward" : "block_forward";
        op = Backends.prepareOp(be, kind, batch, s.cin(), s.cout(), s.h(), s.w());
    }

    @Benchmark
    public void forward() {
        runOp();
    }

    @Benchmark
    public void backward() {
        runOp();
    }
}
