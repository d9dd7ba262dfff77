package org.ddpm4j.backend;

import java.util.Locale;
import org.ddpm4j.setting.Setting;

/**
 * The numerics of a backend:
 * <ul>
 *   <li>{@code FP32}: IEEE float32 everywhere;</li>
 *   <li>{@code TF32}: float32 storage, TF32 tensor-core math in convolutions and GEMMs (CUDA; the CPU has no TF32
 *       units and computes in float32);</li>
 *   <li>{@code BF16}: convolutions multiply bfloat16 operands with float32 accumulation; parameters, gradients, Adam
 *       state and BatchNorm statistics stay float32. On CUDA the activations are stored as bfloat16 channels-last;
 *       on the CPU (which needs AVX512_BF16) they stay float32 NCHW and are rounded as the convolutions pack
 *       them.</li>
 * </ul>
 */
public enum Precision {
    FP32, TF32, BF16;

    /** The name the native library and the CLI use: fp32, tf32 or bf16. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Precision parse(String s) {
        return Setting.PRECISION.parse(s, values());
    }
}
