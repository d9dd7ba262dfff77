package org.ddpm4j.binding;

import org.bytedeco.javacpp.annotation.Namespace;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.StdString;

/**
 * JavaCPP binding of the CUDA backend (native/include/ddpm/cuda.h). Its JNI
 * library links cuDNN and cuBLAS, so it is never loaded by class
 * initialisation: {@link Backends#cuda} loads it explicitly, and only after
 * the driver probe found a GPU and the CUDA libraries were preloaded.
 */
@Platform(include = {"ddpm/backend.h", "ddpm/cuda.h"}, library = "jniDdpmCuda")
@Namespace("ddpm::cuda")
public final class DdpmCuda {
    private DdpmCuda() {}

    /** A CUDA backend on {@code device} with precision "fp32", "tf32" or "bf16" (see ddpm/cuda.h). */
    public static native DdpmCpu.Backend create_cuda_backend_named(int device, @StdString String precision);

    public static native int device_count();

    public static native @StdString String device_name(int device);

    /** One line: CUDA runtime, driver, cuDNN and cuBLAS versions. */
    public static native @StdString String versions();
}
