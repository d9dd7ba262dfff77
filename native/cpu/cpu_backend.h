// The CPU backend's factory with a precision (ddpm/backend.h's
// create_cpu_backend is the float32 one).
#pragma once

#include "cpu_ops.h"
#include "ddpm/backend.h"

namespace ddpm {
namespace cpu {

// How the CPU's convolutions multiply in a precision: kFp32 and kTf32 (the
// CPU has no TF32 units) in float32, kBf16 on bfloat16 operands.
ConvMath conv_math(Precision precision);

// The CPU backend with `threads` workers (<= 0: all cores) whose
// convolutions multiply as conv_math(precision) says; everything else is
// float32 either way (parameters, gradients, Adam moments, BatchNorm
// statistics, activations). kBf16 needs AVX512_BF16 (vdpbf16ps): without it
// this throws ddpm::Error saying so in one line.
Backend* create_backend(int threads, Precision precision);

}  // namespace cpu
}  // namespace ddpm
