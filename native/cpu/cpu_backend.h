// The CPU backend's factory with a precision (ddpm/backend.h's
// create_cpu_backend is the float32 one).
#pragma once

#include <string>

#include "cpu_ops.h"
#include "ddpm/backend.h"

namespace ddpm {
namespace cpu {

// "fp32" and "tf32" (the CPU has no TF32 units: float32) -> kFloat32, "bf16"
// -> kBf16; anything else throws ddpm::Error naming the choices.
ConvMath parse_precision(const std::string& name);

// The CPU backend with `threads` workers (<= 0: all cores) whose
// convolutions multiply in `math`; everything else is float32 either way
// (parameters, gradients, Adam moments, BatchNorm statistics, activations).
// kBf16 needs AVX512_BF16 (vdpbf16ps): without it this throws ddpm::Error
// saying so in one line.
Backend* create_backend(int threads, ConvMath math);

}  // namespace cpu
}  // namespace ddpm
