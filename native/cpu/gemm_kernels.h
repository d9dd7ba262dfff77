// The microkernels and bf16 panel rounding of the GEMM engine (gemm.cpp),
// one version per instruction set (gemm.h: GemmIsa), chosen at run time.
#pragma once

#include <cstdint>

#include "gemm.h"

namespace ddpm {
namespace cpu {

// One MR x NR tile per packed B panel: b0 into c0 (rows ldc0 apart) and, when
// b1 is not null, b1 into c1 with the same A panel:
//   out(r, j) = acc(r, j) + bias[r]          (first K block; bias nullable)
//   out(r, j) = out(r, j) + acc(r, j)        (accumulate)
// for r < rows; rows of the packed A beyond `rows` are zero and not stored.
// acc(r, j) sums the kc products of the panels in k order (float32 panels),
// or the (kc + 1) / 2 pair products (bf16 panels). Each tile's result is the
// same whether or not it shares the call with another.
using MicroKernel = void (*)(int kc, const void* a, const void* b0, const void* b1, float* c0,
                             int64_t ldc0, float* c1, int64_t ldc1, int rows, bool accumulate,
                             const float* bias);

// The kernel for float32 or bf16 panels on `isa` (bf16 on kAvx512 needs
// gemm_cpu_has_bf16(); otherwise the portable emulation).
MicroKernel gemm_microkernel(GemmIsa isa, bool bf16);

// The bf16 kernel of a 3x3 convolution by taps (conv_taps.cpp): out(r, j) =
// sum over `taps` segments s of the kc-step product of A (the segments'
// bf16 A panels back to back) and B rows read in place: pair row k of
// segment s, panel i, at b_i + offsets[s] + k * ldb bytes (16 pairs); b1
// may be null; stored once (+ bias[r]) for r < rows. The same products as
// MicroKernel on packed copies of those rows, one sum over all segments.
// With an epilogue (non-null), each row v (after the bias) is stored as
// scale_shift_relu_add would turn it: relu(fma(v, scale[r], shift[r])) +
// add_i[r] (add_i nullable: 0) -- a BatchNorm in eval mode applied in
// registers (batchnorm_eval.h). nullptr unless AVX512_BF16 is in use.
struct TapsEpilogue {
  const float* scale;
  const float* shift;
  const float* add0;  // per row, for panel 0 (c0); nullable
  const float* add1;  // for panel 1 (c1); nullable
};
using TapsKernel = void (*)(int kc, int taps, const int64_t* offsets, const void* a, const void* b0, const void* b1,
                            int64_t ldb, float* c0, int64_t ldc0, float* c1, int64_t ldc1, int rows,
                            const float* bias, const TapsEpilogue* epilogue);
TapsKernel gemm_taps_kernel_bf16();

// The bf16 panel of kc rows of `width` floats (src[k * width + j], k-major):
// dst[(k / 2) * 2 width + 2j + k % 2] = float_to_bf16(src[k * width + j]),
// with the pair past an odd kc completed by 0. width is kGemmMR or kGemmNR.
void round_panel_bf16(uint16_t* dst, const float* src, int width, int kc);

}  // namespace cpu
}  // namespace ddpm
