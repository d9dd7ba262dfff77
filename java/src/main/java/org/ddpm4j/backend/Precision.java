package org.ddpm4j.backend;

import java.util.Locale;

/**
 * The numerics of a CUDA backend (the CPU backend always computes in float32):
 * <ul>
 *   <li>{@code FP32}: IEEE float32 everywhere;</li>
 *   <li>{@code TF32}: float32 storage, TF32 tensor-core math in convolutions and GEMMs;</li>
 *   <li>{@code BF16}: activations stored as bfloat16 channels-last and convolutions on bf16 tensor cores with
 *       float32 accumulation; parameters, gradients, Adam state and BatchNorm statistics stay float32.</li>
 * </ul>
 */
public enum Precision {
    FP32, TF32, BF16;

    /** The name the native library and the CLI use: fp32, tf32 or bf16. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Precision parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--precision must be fp32, tf32 or bf16, got '" + s + "'");
        }
    }
}
