package org.ddpm4j.bench;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.ddpm4j.binding.Backends;

/**
 * One Adam update (torch.optim.Adam semantics) over a flat parameter buffer,
 * by default the seed model's 33.08M trainable parameters. Memory-bound: the
 * summary reports GB/s from OpKernel.bytes() (read p, g, m, v; write p, m, v).
 * Batch size does not apply; the parameter count does.
 */
@State(Scope.Benchmark)
public class AdamBench extends OpKernelBench {

    /** A count (33078526, 33M) or a model name (seed, tiny, b128d4): that model's parameters. */
    @Param({"seed"})
    public String params;


    @Setup(Level.Trial)
    public void setup() {
        openBackend();
        long n = Shapes.paramCount(params);
        if (n > Integer.MAX_VALUE) throw new IllegalArgumentException("params: at most " + Integer.MAX_VALUE);
        op = Backends.prepareOp(be, "adam", 1, (int) n, 1, 1, 1);
    }

    @Benchmark
    public void step() {
        runOp();
    }
}
