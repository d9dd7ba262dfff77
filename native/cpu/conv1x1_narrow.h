// 1x1 convolutions with few output channels as plain loops over pixels
// (conv1x1_narrow.cpp): the UNet's last layer, where a GEMM's tiles are
// mostly empty. conv2d_forward / conv2d_backward try these first for k = 1.
#pragma once

#include <cstdint>

#include "cpu_ops.h"
#include "thread_pool.h"

namespace ddpm {
namespace cpu {

constexpr int kMaxNarrow = 8;  // output channels at most

// y (N, Co, HW) = w (Co, Ci) x (N, Ci, HW) [+ b]; dx (nullable) and dw of
// it given dy. They return false and write nothing unless 1 <= Co <=
// kMaxNarrow and AVX2 (or AVX-512) is in use. Bit-identical for any thread
// count and on AVX2 and AVX-512.
bool conv1x1_narrow_forward(ThreadPool& pool, ConvMath math, const float* x, const float* w, const float* b, float* y,
                            int N, int Ci, int64_t HW, int Co);
bool conv1x1_narrow_backward(ThreadPool& pool, ConvMath math, const float* x, const float* w, const float* dy,
                             float* dx, float* dw, int N, int Ci, int64_t HW, int Co);

}  // namespace cpu
}  // namespace ddpm
