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

// The bf16 panel of kc rows of `width` floats (src[k * width + j], k-major):
// dst[(k / 2) * 2 width + 2j + k % 2] = float_to_bf16(src[k * width + j]),
// with the pair past an odd kc completed by 0. width is kGemmMR or kGemmNR.
void round_panel_bf16(uint16_t* dst, const float* src, int width, int kc);

}  // namespace cpu
}  // namespace ddpm
