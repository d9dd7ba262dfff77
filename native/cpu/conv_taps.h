// 3x3 pad-1 convolutions as nine GEMMs over one zero-padded copy of the
// input (conv_taps.cpp), for the shapes and instruction sets where that beats
// the im2col GEMMs of conv2d.cpp; conv2d_forward / conv2d_backward try these
// first.
#pragma once

#include "batchnorm_eval.h"

#include "cpu_ops.h"
#include "thread_pool.h"

namespace ddpm {
namespace cpu {

// dw (Co, Ci, 3, 3) = the filter gradient of y = conv3x3(x) given dy, when
// the shape and the instruction set suit (W >= 16 and a multiple of 8, Ci a
// multiple of 16; AVX2, or AVX512_BF16 for bf16); otherwise returns false
// and writes nothing. Bit-identical for any thread count.
bool conv3x3_filter_grad_by_taps(ThreadPool& pool, ConvMath math, const float* x, const float* dy, float* dw, int N,
                                 int Ci, int H, int W, int Co);

// y (N, Co, H, W) = conv3x3(x (N, Ci, H, W)) [+ bias] with w the forward
// weights (Co, Ci, 3, 3), or with adjoint_weights w (Ci, Co, 3, 3) read
// transposed and flipped (the data gradient: x = dy, y = dx), when the shape
// and the instruction set suit (W a multiple of 16; AVX2 or AVX-512, bf16
// with AVX512_BF16); otherwise returns false and writes nothing.
// Bit-identical for any thread count. With an epilogue, each finished tile
// of y (six channels of 16 or 32 pixels, hot in L1) goes through it.
bool conv3x3_forward_by_taps(ThreadPool& pool, ConvMath math, const float* x, const float* w, bool adjoint_weights,
                             const float* bias, float* y, int N, int Ci, int H, int W, int Co,
                             const ChannelEpilogue* epilogue = nullptr);

}  // namespace cpu
}  // namespace ddpm
