package org.ddpm4j.api;

import org.ddpm4j.backend.Backend;
import org.ddpm4j.backend.Device;
import org.ddpm4j.backend.Precision;
import org.ddpm4j.binding.Backends;
import org.ddpm4j.setting.Setting;

/**
 * Where models run and with what numerics, as the command line's {@code --device}, {@code --threads},
 * {@code --precision} and {@code --cuda-libs}. Immutable.
 *
 * @param device AUTO (CUDA when a usable GPU, driver, cuDNN 9 and cuBLAS are found, else the CPU), CPU or CUDA
 * @param threads CPU worker threads, 0 = all cores (results do not depend on it)
 * @param precision CUDA numerics: FP32, TF32 or BF16; the CPU computes in float32 (TF32 means nothing there, BF16
 *     is refused)
 * @param cudaLibs extra folders holding cuDNN 9 and cuBLAS, colon-separated, or null
 */
public record Compute(Device device, int threads, Precision precision, String cudaLibs) {
    public Compute {
        if (device == null) throw new InvalidInputException("Compute: device is null (AUTO, CPU or CUDA)");
        if (precision == null) throw new InvalidInputException("Compute: precision is null (FP32, TF32 or BF16)");
        if (threads < 0) throw Errors.invalid(Setting.THREADS, "must be >= 0, got " + threads);
    }

    /** CUDA when usable, else the CPU with all cores; FP32. */
    public static Compute auto() {
        return new Compute(Device.AUTO, 0, Precision.FP32, null);
    }

    /** The CPU with all cores. */
    public static Compute cpu() {
        return new Compute(Device.CPU, 0, Precision.FP32, null);
    }

    /** The first CUDA GPU in FP32 (with {@link #withPrecision} TF32 or BF16). */
    public static Compute cuda() {
        return new Compute(Device.CUDA, 0, Precision.FP32, null);
    }

    /** This with another device: AUTO, CPU or CUDA. */
    public Compute withDevice(Device d) {
        return new Compute(d, threads, precision, cudaLibs);
    }

    /** This with {@code n} CPU worker threads (0 = all cores). */
    public Compute withThreads(int n) {
        return new Compute(device, n, precision, cudaLibs);
    }

    /** This with CUDA numerics FP32, TF32 or BF16. */
    public Compute withPrecision(Precision p) {
        return new Compute(device, threads, p, cudaLibs);
    }

    /** This looking for cuDNN and cuBLAS in {@code dirs} (colon-separated) too. */
    public Compute withCudaLibs(String dirs) {
        return new Compute(device, threads, precision, dirs);
    }

    /** Opens the backend; the caller closes it (after everything created on it). */
    Backend open() {
        return Errors.call(() -> Backends.open(device, threads, cudaLibs, precision));
    }
}
