package org.ddpm4j.cli;

import org.ddpm4j.api.Compute;
import org.ddpm4j.api.InvalidInputException;
import org.ddpm4j.backend.Device;
import org.ddpm4j.backend.Precision;
import picocli.CommandLine.Option;

/** Options every command takes: where to run, and the seed. */
public final class CommonOptions {
    @Option(names = "--device", paramLabel = "auto|cpu|cuda", converter = Converters.DeviceConverter.class,
            description = "Compute device: auto (CUDA when usable, else CPU), cpu or cuda (default: ${DEFAULT-VALUE}).",
            defaultValue = "auto")
    Device device = Device.AUTO;

    @Option(names = "--threads", paramLabel = "N", description = "CPU worker threads, 0 = all cores (default: ${DEFAULT-VALUE}).",
            defaultValue = "0")
    int threads;

    @Option(names = "--cuda-libs", paramLabel = "DIR[:DIR]", description = "Extra folders holding cuDNN 9 and cuBLAS.")
    String cudaLibs;

    @Option(names = "--tf32", description = "Allow TF32 tensor-core math on CUDA (faster, less exact); short for --precision tf32.")
    boolean tf32;

    @Option(names = "--precision", paramLabel = "fp32|tf32|bf16", converter = Converters.PrecisionConverter.class,
            description = {"Numerics (default: fp32, or tf32 with --tf32): fp32 = IEEE float32; tf32 = TF32 tensor cores (CUDA; fp32 on the CPU);",
                    "bf16 = bfloat16 convolution operands with float32 weights, gradients, Adam and BatchNorm statistics",
                    "(CUDA; on the CPU where it has AVX512_BF16)."})
    Precision precision;

    @Option(names = "--seed", paramLabel = "N", description = "Random seed (default: 0).")
    Long seed;

    @Option(names = "--debug", description = "Show stack traces on errors; on CUDA, log each convolution's algorithm choice (the launcher sets DDPM_CUDA_VERBOSE=1).")
    boolean debug;

    long seedOr(long fallback) {
        return seed != null ? seed : fallback;
    }

    /** Where to run: --device, --threads, the precision and --cuda-libs. */
    Compute compute() {
        return new Compute(device, threads, precision(), cudaLibs);
    }

    /** The precision asked for: --precision, else tf32 with --tf32, else fp32. */
    private Precision precision() {
        if (precision == null) return tf32 ? Precision.TF32 : Precision.FP32;
        if (tf32 && precision == Precision.FP32) {
            throw new InvalidInputException("--tf32 contradicts --precision fp32: give one of them");
        }
        return precision;
    }
}
