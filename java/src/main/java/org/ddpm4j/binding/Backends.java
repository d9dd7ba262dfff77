package org.ddpm4j.binding;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.Loader;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.backend.BackendUnavailableException;
import org.ddpm4j.backend.Device;
import org.ddpm4j.backend.OpKernel;
import org.ddpm4j.backend.Precision;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.setting.SettingText;

/**
 * Opens backends. The CPU backend needs only libjniDdpmCpu. The CUDA backend is
 * opened in four guarded steps, each failing with one clear line:
 * (1) the driver probe through libcuda.so.1 finds a GPU, (2) cuBLAS and cuDNN
 * are preloaded from the given folders, DDPM_CUDA_LIBS, LD_LIBRARY_PATH, the
 * NVIDIA pip wheels or the system, (3) libjniDdpmCuda is loaded, (4) the device
 * is opened.
 */
public final class Backends {
    private Backends() {}

    /** The CPU backend with {@code threads} workers (0 = all cores). */
    public static Backend cpu(int threads) {
        checkCpuIsaEnvironment();
        return new NativeBackend(DdpmCpu.create_cpu_backend(threads), Precision.FP32);
    }

    /**
     * DDPM_CPU_ISA (generic, avx2 or avx512) caps the CPU kernels' instruction set, as if the CPU had no more (to
     * time an AVX2-only host's case on an AVX-512 machine). The native side reads it; a value it does not know is
     * refused here as the user's input.
     */
    private static void checkCpuIsaEnvironment() {
        String isa = System.getenv("DDPM_CPU_ISA");
        if (isa != null && !isa.isEmpty() && !List.of("generic", "avx2", "avx512").contains(isa)) {
            throw new IllegalArgumentException(
                    "environment variable DDPM_CPU_ISA: expected generic, avx2 or avx512, got '" + isa + "'");
        }
    }

    /**
     * The backend for a --device choice with a precision. On the CPU, TF32 is float32 (no TF32 units), and BF16
     * (bf16 convolution operands with float32 sums) needs AVX512_BF16: without it the CPU refuses it in one line.
     *
     * @param cudaLibs extra folders (colon-separated, may be null) holding libcudnn.so.9 and libcublas.so.13
     */
    public static Backend open(Device device, int threads, String cudaLibs, Precision precision) {
        switch (device) {
            case CPU:
                return cpu(threads, precision);
            case CUDA:
                return cuda(0, cudaLibs, precision);
            default:
                return cudaUsable(cudaLibs) == null ? cuda(0, cudaLibs, precision) : cpu(threads, precision);
        }
    }

    private static Backend cpu(int threads, Precision precision) {
        if (precision != Precision.BF16) return cpu(threads);
        checkCpuIsaEnvironment();
        try {
            return new NativeBackend(DdpmCpu.create_cpu_backend_named(threads, precision.id()), Precision.BF16);
        } catch (RuntimeException e) {
            throw new BackendUnavailableException(SettingText.of(firstLine(e.getMessage()), "; use ", Setting.PRECISION,
                    " fp32, or ", Setting.DEVICE, " cuda on a machine with an NVIDIA GPU"), e);
        }
    }

    /**
     * A single op prepared on {@code backend} with random inputs, for the JMH benchmarks (not part of the
     * {@link Backend} interface: production code never runs ops one by one): block_forward / block_backward
     * (conv3x3 cin->cout + BatchNorm + ReLU at n x h x w), adam (n*cin*h*w parameters), noise_add and
     * reverse_step (n images of cin x h x w).
     */
    public static OpKernel prepareOp(Backend backend, String kind, int n, int cin, int cout, int h, int w) {
        if (!(backend instanceof NativeBackend nb)) throw new IllegalArgumentException("not a native backend: " + backend);
        return nb.prepareOp(kind, n, cin, cout, h, w);
    }

    /** null when a CUDA backend can be opened here, else the reason in one line. */
    public static String cudaUsable(String cudaLibs) {
        int n = DdpmCpu.cuda_device_count();
        if (n <= 0) return n < 0 ? DdpmCpu.cuda_probe_error() : "no CUDA-capable GPU is present";
        if (!hasCudaLibrary()) return "this build of ddpm4j has no CUDA backend (it was built without the CUDA toolkit)";
        String missing = DdpmCpu.preload_cuda_libraries(searchPath(cudaLibs));
        return missing.isEmpty() ? null : missing;
    }

    /** Number of CUDA GPUs the driver reports (0 without a driver). */
    public static int cudaDeviceCount() {
        return Math.max(0, DdpmCpu.cuda_device_count());
    }

    public static String nativeVersion() {
        return DdpmCpu.version();
    }

    private static boolean hasCudaLibrary() {
        String resource = "/org/ddpm4j/binding/" + Loader.getPlatform() + "/libjniDdpmCuda.so";
        return Backends.class.getResource(resource) != null;
    }

    /** The CUDA backend on {@code device} with the given precision. */
    public static Backend cuda(int device, String cudaLibs, Precision precision) {
        String why = cudaUsable(cudaLibs);
        if (why != null) throw new BackendUnavailableException("CUDA is not available: " + why);
        try {
            Loader.load(DdpmCuda.class);
        } catch (UnsatisfiedLinkError e) {
            throw new BackendUnavailableException("CUDA is not available: the CUDA backend library did not load ("
                    + firstLine(e.getMessage()) + ")", e);
        }
        int count = DdpmCuda.device_count();
        if (device < 0 || device >= count) {
            throw new BackendUnavailableException("CUDA device " + device + " does not exist (" + count + " found)");
        }
        try {
            return new NativeBackend(DdpmCuda.create_cuda_backend_named(device, precision.id()), precision);
        } catch (RuntimeException e) {
            throw new BackendUnavailableException("CUDA is not available: " + firstLine(e.getMessage()), e);
        }
    }

    /** Names and versions of the CUDA devices, for `ddpm info`; empty when CUDA is unusable. */
    public static List<String> cudaDevices(String cudaLibs) {
        List<String> out = new ArrayList<>();
        if (cudaUsable(cudaLibs) != null) return out;
        try {
            Loader.load(DdpmCuda.class);
            for (int i = 0; i < DdpmCuda.device_count(); i++) out.add(i + ": " + DdpmCuda.device_name(i));
            out.add(DdpmCuda.versions());
        } catch (UnsatisfiedLinkError | RuntimeException e) {
            out.clear();
        }
        return out;
    }

    /** Folders to look in for cuDNN/cuBLAS: explicit, $DDPM_CUDA_LIBS, $LD_LIBRARY_PATH, pip wheels. */
    static String searchPath(String cudaLibs) {
        List<String> dirs = new ArrayList<>();
        addAll(dirs, cudaLibs);
        addAll(dirs, System.getenv("DDPM_CUDA_LIBS"));
        addAll(dirs, System.getenv("LD_LIBRARY_PATH"));
        for (String root : pythonSitePackages()) {
            for (String sub : new String[] {"nvidia/cudnn/lib", "nvidia/cu13/lib", "nvidia/cublas/lib"}) {
                Path p = Path.of(root, sub);
                if (Files.isDirectory(p)) dirs.add(p.toString());
            }
        }
        return String.join(File.pathSeparator, dirs);
    }

    private static void addAll(List<String> dirs, String path) {
        if (path == null) return;
        for (String d : path.split(File.pathSeparator)) if (!d.isBlank()) dirs.add(d.trim());
    }

    /** site-packages folders of common Python installs, found without running Python. */
    private static List<String> pythonSitePackages() {
        List<String> out = new ArrayList<>();
        List<Path> prefixes = new ArrayList<>();
        String venv = System.getenv("VIRTUAL_ENV");
        if (venv != null) prefixes.add(Path.of(venv));
        prefixes.add(Path.of("/usr/local"));
        prefixes.add(Path.of("/usr"));
        prefixes.add(Path.of("/opt/conda"));
        String home = System.getProperty("user.home");
        if (home != null) prefixes.add(Path.of(home, ".local"));
        Path pyenv = home == null ? null : Path.of(home, ".pyenv", "versions");
        if (pyenv != null && Files.isDirectory(pyenv)) {
            try (var s = Files.list(pyenv)) {
                s.forEach(prefixes::add);
            } catch (Exception ignored) {
                // an unreadable pyenv folder only means fewer places to look
            }
        }
        Path torchVenv = Path.of("/opt/torch/.venv");
        if (Files.isDirectory(torchVenv)) prefixes.add(torchVenv);
        for (Path prefix : prefixes) {
            Path lib = prefix.resolve("lib");
            if (!Files.isDirectory(lib)) continue;
            try (var s = Files.list(lib)) {
                s.filter(p -> p.getFileName().toString().startsWith("python3")).forEach(py -> {
                    for (String site : new String[] {"site-packages", "dist-packages"}) {
                        Path sp = py.resolve(site);
                        if (Files.isDirectory(sp)) out.add(sp.toString());
                    }
                });
            } catch (Exception ignored) {
                // as above
            }
        }
        return out;
    }

    private static String firstLine(String s) {
        if (s == null) return "unknown error";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
