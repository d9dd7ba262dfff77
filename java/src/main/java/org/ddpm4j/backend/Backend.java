package org.ddpm4j.backend;

import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;

/**
 * A compute backend (the CPU reference or a CUDA GPU). Everything that runs on
 * it is created here and must be closed before the backend.
 */
public interface Backend extends AutoCloseable {

    /** "cpu" or "cuda". */
    String name();

    /** Human-readable device, e.g. the CPU model or "NVIDIA H100 80GB HBM3". */
    String deviceName();

    /** CPU worker threads (1 for CUDA). */
    int threads();

    /** The numerics this backend computes with (what it does, not what was asked: a CPU asked for TF32 computes FP32). */
    Precision precision();

    /** A UNet with activations sized for batches of up to maxBatch images, initialised from seed 0. */
    UNet createUNet(UNetConfig config, int maxBatch);
    @Override
    void close();
}
