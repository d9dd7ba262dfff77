package org.ddpm4j.bench;

import java.util.concurrent.TimeUnit;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.backend.Device;
import org.ddpm4j.backend.Precision;
import org.ddpm4j.binding.Backends;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Common part of every benchmark: the backend parameter and the modest default
 * JMH settings (one fork, 2 x 2 s warm-up, 3 x 3 s measurement, time per op).
 *
 * <p>Each benchmark method enqueues its work and then waits for the device
 * (OpKernel.synchronize()), so the time per op is honest on a GPU too.
 *
 * <p>System properties (pass to the fork with -jvmArgsAppend "-D..."):
 * {@code ddpm.bench.precision} (fp32, tf32 or bf16 for the CUDA backend; default tf32; the CPU is always
 * float32) and
 * {@code ddpm.bench.cudaLibs} (folders holding cuDNN and cuBLAS).
 *
 * <p>Subclasses open the backend first in their own @Setup and close it last in
 * their own @TearDown, so that everything living on it is freed before it.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(1)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
public abstract class BackendBench {

    /** cpu, or cuda (skipped with one line when no usable GPU). */
    @Param({"cpu", "cuda"})
    public String backend;

    /** CPU worker threads, 0 = all cores (ignored by cuda). */
    @Param({"0"})
    public int threads;

    protected Backend be;

    protected final void openBackend() {
        be = open(backend, threads);
    }

    protected final void closeBackend() {
        if (be != null) be.close();
        be = null;
    }

    static Backend open(String backend, int threads) {
        Device device = Device.parse(backend);
        if (device == Device.AUTO) throw new IllegalArgumentException("backend must be cpu or cuda, not auto");
        if (device == Device.CUDA) {
            String why = Backends.cudaUsable(cudaLibs());
            if (why != null) throw new SkippedBenchmark("backend=cuda skipped: " + why + " (use -p backend=cpu to leave it out)");
        }
        return Backends.open(device, threads, cudaLibs(), device == Device.CUDA ? precision() : Precision.FP32);
    }

    static Precision precision() {
        return Precision.parse(System.getProperty("ddpm.bench.precision", "tf32"));
    }

    static String cudaLibs() {
        return System.getProperty("ddpm.bench.cudaLibs");
    }

    /** Thrown from @Setup when a parameter combination cannot run here; carries no stack trace. */
    static final class SkippedBenchmark extends RuntimeException {
        SkippedBenchmark(String message) {
            super(message, null, false, false);
        }

        @Override
        public String toString() {
            return getMessage();
        }
    }
}
