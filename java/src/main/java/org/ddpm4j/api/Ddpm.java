package org.ddpm4j.api;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.binding.Backends;

/** ddpm4j itself: its version and the machine it runs on (for timings, see {@link Trainer#benchmark}). */
public final class Ddpm {
    private Ddpm() {}

    /**
     * What {@code ddpm info} reports.
     *
     * @param version ddpm4j's version ("dev" outside a built jar)
     * @param nativeVersion the native library's version
     * @param java the Java runtime: version, VM and vendor
     * @param cpu the CPU model
     * @param cores available processors
     * @param cudaProblem why CUDA cannot be used here, or null when it can
     * @param cudaDevices the CUDA devices ("0: NVIDIA H100 ...") and the CUDA, cuDNN and cuBLAS versions; empty
     *     when CUDA is unusable
     * @param backend the backend {@code compute} opens: "cpu" or "cuda"
     * @param device its device, e.g. the CPU model or the GPU's name
     * @param threads its CPU worker threads (1 for CUDA)
     */
    public record Environment(String version, String nativeVersion, String java, String cpu, int cores, String cudaProblem,
                              List<String> cudaDevices, String backend, String device, int threads) {
        public Environment {
            cudaDevices = List.copyOf(cudaDevices);
        }
    }

    /** ddpm4j's version, from the jar's manifest ("dev" when run from classes). */
    public static String version() {
        String v = Ddpm.class.getPackage().getImplementationVersion();
        return v != null ? v : "dev";
    }

    /** The native library's version. */
    public static String nativeVersion() {
        return Errors.call(Backends::nativeVersion);
    }

    /** The machine, CUDA's state and the backend {@code compute} opens (which it opens and closes to tell). */
    public static Environment environment(Compute compute) {
        return Errors.call(() -> {
            String java = System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ", "
                    + System.getProperty("java.vendor") + ")";
            String problem = Backends.cudaUsable(compute.cudaLibs());
            List<String> devices = problem == null ? Backends.cudaDevices(compute.cudaLibs()) : List.of();
            try (Backend be = compute.open()) {
                return new Environment(version(), Backends.nativeVersion(), java, cpuModel(),
                        Runtime.getRuntime().availableProcessors(), problem, devices, be.name(), be.deviceName(), be.threads());
            }
        });
    }

    private static String cpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) return line.substring(line.indexOf(':') + 1).trim();
            }
        } catch (IOException | RuntimeException ignored) {
            // not Linux, or unreadable
        }
        return System.getProperty("os.arch");
    }
}
