// A 3x3 convolution whose input has few channels (the UNet's first layer:
// the image's 3 or 1), forward and backward, as direct loops over pixels
// (conv_small_cin.cpp). There im2col's GEMMs are nearly empty (K = 27 for
// the forward; the filter gradient a 16 x 27 product over every pixel of
// the batch; the data gradient 3 output rows): they ran at 15-100 GFLOP/s.
#pragma once

#include "batchnorm_eval.h"
#include "cpu_ops.h"
#include "thread_pool.h"

namespace ddpm {
namespace cpu {

constexpr int kMaxSmallCin = 4;

// dw (Co, Ci, 3, 3) and dx (N, Ci, H, W; nullable) of y = conv3x3(x, w)
// given dy (N, Co, H, W). Returns false and writes nothing unless Ci <=
// kMaxSmallCin, W is a multiple of 16 and AVX2 (or AVX-512) is in use. bf16
// math rounds x, dy and w to bf16 first (products then exact in float32).
// Every output is a sum in a fixed order (dw: per sample in 16 lanes, the
// lanes in order, the samples in order in double): the same bits for any
// thread count and on AVX2 and AVX-512.
// y (N, Co, H, W) = conv3x3(x, w) [+ b], then through the epilogue when one
// is given (conv2d_batchnorm_relu_eval), in registers. Same conditions,
// rounding and guarantees as the backward below; each output a chain of
// fused multiply-adds over (ci, tap) in order, then + b.
bool conv3x3_small_cin_forward(ThreadPool& pool, ConvMath math, const float* x, const float* w, const float* b, float* y,
                               int N, int Ci, int H, int W, int Co, const ChannelEpilogue* epilogue = nullptr);

bool conv3x3_small_cin_backward(ThreadPool& pool, ConvMath math, const float* x, const float* w, const float* dy,
                                float* dx, float* dw, int N, int Ci, int H, int W, int Co);

}  // namespace cpu
}  // namespace ddpm
