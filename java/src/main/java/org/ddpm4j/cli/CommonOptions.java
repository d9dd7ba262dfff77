package org.ddpm4j.cli;

import org.ddpm4j.backend.Backend;
import org.ddpm4j.backend.Device;
import org.ddpm4j.binding.Backends;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/** Options every command takes: where to run, and the seed. */
public final class CommonOptions {
    @Option(names = "--device", paramLabel = "auto|cpu|cuda", converter = DeviceConverter.class,
            description = "Compute device: auto (CUDA when usable, else CPU), cpu or cuda (default: ${DEFAULT-VALUE}).",
            defaultValue = "auto")
    Device device = Device.AUTO;

    @Option(names = "--threads", paramLabel = "N", description = "CPU worker threads, 0 = all cores (default: ${DEFAULT-VALUE}).",
            defaultValue = "0")
    int threads;

    @Option(names = "--cuda-libs", paramLabel = "DIR[:DIR]", description = "Extra folders holding cuDNN 9 and cuBLAS.")
    String cudaLibs;

    @Option(names = "--tf32", description = "Allow TF32 tensor-core math on CUDA (faster, less exact).")
    boolean tf32;

    @Option(names = "--seed", paramLabel = "N", description = "Random seed (default: 0).")
    Long seed;

    @Option(names = "--debug", description = "Show stack traces on errors.")
    boolean debug;

    long seedOr(long fallback) {
        return seed != null ? seed : fallback;
    }

    Backend openBackend() {
        if (threads < 0) throw new IllegalArgumentException("--threads must be >= 0, got " + threads);
        return Backends.open(device, threads, cudaLibs, tf32);
    }

    /** picocli converter: Device.parse with its one-line message. */
    public static final class DeviceConverter implements ITypeConverter<Device> {
        @Override
        public Device convert(String value) {
            try {
                return Device.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }
}
