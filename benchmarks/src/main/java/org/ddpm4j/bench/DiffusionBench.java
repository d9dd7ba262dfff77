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
 * The two elementwise DDPM kernels on a batch of images: noiseAdd (q-sample,
 * x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, per-sample t) and reverseStep
 * (one ancestral step with in-kernel Gaussian noise). Memory-bound: the
 * summary reports GB/s from OpKernel.bytes().
 */
@State(Scope.Benchmark)
public class DiffusionBench extends OpKernelBench {

    @Param({"32"})
    public int batch;

    /** CxHxW of one image. */
    @Param({"3x32x32"})
    public String image;


    @Setup(Level.Trial)
    public void setup(BenchmarkParams params) {
        openBackend();
        Shapes.Image im = Shapes.Image.parse(image);
        String kind = params.getBenchmark().endsWith(".reverseStep") ? "reverse_step" : "noise_add";
        op = Backends.prepareOp(be, kind, batch, im.c(), 1, im.h(), im.w());
    }

    @Benchmark
    public void noiseAdd() {
        runOp();
    }

    @Benchmark
    public void reverseStep() {
        runOp();
    }
}
