// A blocked, packed single-precision GEMM engine for the CPU ops:
//
//   C (M x N) = A (M x K) * B (K x N)  [+ row_bias[m]]
//
// where neither A, B nor C need to exist as plain matrices: a GemmProblem
// packs panels of A and B on demand (this is where a convolution does its
// im2col gather, implicitly, a small panel at a time) and says where the
// result tiles go (NCHW planes, strided outputs, scattered pixels).
//
// Layout of the packed float32 panels the microkernel reads:
//   A panel: kc groups of kGemmMR floats, dst[k * MR + r] = A[m0 + r][k0 + k]
//   B panel: kc groups of kGemmNR floats, dst[k * NR + j] = B[k0 + k][n0 + j]
// Rows r >= rows (columns j >= cols) of a partial panel must be written as 0.
//
// bfloat16 problems (GemmProblem::bf16): A and B are rounded to bfloat16
// (round to nearest even) as they are packed and the microkernel sums their
// products in float32 (vdpbf16ps, two K terms per instruction), so its panels
// hold pairs of consecutive K interleaved:
//   A panel: dst[(k / 2) * 2MR + 2r + k % 2] = bf16(A[m0 + r][k0 + k])
//   B panel: dst[(k / 2) * 2NR + 2j + k % 2] = bf16(B[k0 + k][n0 + j])
// with the second half of the last pair 0 when kc is odd. C stays float32.
//
// Determinism: every element of C is the sum over K in fixed blocks whose
// bounds depend only on K (and on whether the problem is bf16); within a
// block the products are accumulated in k order by one thread, and blocks
// are added to C in order. How the M x N tiles are spread over threads (which
// may depend on the thread count), and whether a microkernel call covers one
// tile or two side by side, has no effect on any bit of the result. The
// float32 AVX2 and AVX-512 microkernels perform the same fused multiply-adds
// in the same order, so they give the same bits too.
#pragma once

#include <cstdint>
#include <string>

#include "thread_pool.h"

namespace ddpm {
namespace cpu {

constexpr int kGemmMR = 6;   // rows of a microtile: broadcast from A
constexpr int kGemmNR = 16;  // columns of a microtile: two 8-float vectors of B

class GemmProblem {
 public:
  virtual ~GemmProblem() = default;

  int64_t M = 0, N = 0, K = 0;
  // Added to every element of row m (nullable). Applied once, with the first
  // K block, so a problem with K == 0 yields C = row_bias (or 0).
  const float* row_bias = nullptr;
  // Operands rounded to bfloat16, products summed in float32 (see above).
  bool bf16 = false;

  // dst[k * MR + r] = A[m0 + r][k0 + k] for k < kc, r < rows; 0 for r >= rows.
  virtual void pack_a(float* dst, int64_t m0, int rows, int64_t k0, int kc) const = 0;
  // dst[k * NR + j] = B[k0 + k][n0 + j] for k < kc, j < cols; 0 for j >= cols.
  virtual void pack_b(float* dst, int64_t k0, int kc, int64_t n0, int cols) const = 0;
  // The bf16 panels of the same blocks (layout above; k0 is even). The
  // defaults pack float32 panels a chunk at a time and round them.
  virtual void pack_a_bf16(uint16_t* dst, int64_t m0, int rows, int64_t k0, int kc) const;
  virtual void pack_b_bf16(uint16_t* dst, int64_t k0, int kc, int64_t n0, int cols) const;
  // When C[m0 + r][n0 + j] for r < MR (rows that exist), j < NR lies at
  // tile[r * ldc + j], return tile and set ldc; otherwise return nullptr and
  // the engine works on a staged copy (load_tile / store_tile). Called only
  // for tiles with NR columns.
  virtual float* direct_tile(int64_t m0, int64_t n0, int64_t* ldc) const = 0;
  // C[m0 + r][n0 + j] = tile[r * NR + j] for r < rows, j < cols.
  virtual void store_tile(const float* tile, int64_t m0, int rows, int64_t n0, int cols) const = 0;
  // tile[r * NR + j] = C[m0 + r][n0 + j] for r < rows, j < cols (used only
  // when K is walked in several super-blocks).
  virtual void load_tile(float* tile, int64_t m0, int rows, int64_t n0, int cols) const = 0;
  // Called once for every finished tile (all of K summed, the bias added),
  // before it is stored, while it is in the core's caches: C[m0 + r][n0 + j]
  // is at tile[r * ldc + j] for r < rows, j < cols, and may be changed in
  // place (a fused epilogue). The default leaves it.
  virtual void finish_tile(float* tile, int64_t ldc, int64_t m0, int rows, int64_t n0, int cols) const {
    (void)tile, (void)ldc, (void)m0, (void)rows, (void)n0, (void)cols;
  }
};

// Runs the problem on the pool. Throws ddpm::Error on bad sizes.
void gemm_run(ThreadPool& pool, const GemmProblem& problem);

// A matrix in memory with element (i, j) at data[i * row_stride + j * col_stride].
struct StridedMatrix {
  const float* data;
  int64_t row_stride, col_stride;
};

// C (M x N) = A (M x K) * B (K x N) [+ row_bias] for plain strided matrices
// (c_col_stride == 1 lets the microkernel write C in place).
void gemm_strided(ThreadPool& pool, int64_t M, int64_t N, int64_t K, StridedMatrix A,
                  StridedMatrix B, float* C, int64_t c_row_stride, int64_t c_col_stride,
                  const float* row_bias);

// Packs rows of a row-major block as an A panel: dst[k * MR + r] =
// src[r * ld + k] for k < kc, r < rows; 0 for rows <= r < MR. (The common A
// layout: weights rows, or NCHW channel planes read along pixels.)
void gemm_pack_a_rows(float* dst, const float* src, int64_t ld, int rows, int kc);
// The same rows as a bf16 A panel (pairs of K interleaved; kc may be odd).
void gemm_pack_a_rows_bf16(uint16_t* dst, const float* src, int64_t ld, int rows, int kc);

// The instruction sets the microkernels and packers may use, in order.
//   kGeneric  portable C++;
//   kAvx2     AVX2 + FMA: the 6x16 microkernel in ymm registers, the AVX2
//             packers;
//   kAvx512   AVX-512 F/BW/VL: a 6x32 microkernel (two 6x16 tiles side by
//             side sharing the A broadcasts) in zmm registers, and with
//             AVX512_BF16 the bf16 microkernel and panel rounding.
// The best one the CPU has is picked at run time (the portable build compiles
// every kernel with target attributes); tests may cap it to check the others.
enum class GemmIsa { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

const char* gemm_isa_name(GemmIsa isa);  // "generic", "avx2", "avx512"
GemmIsa gemm_cpu_isa();                  // the best this CPU has (or DDPM_CPU_ISA allows)
// Why the environment variable DDPM_CPU_ISA was not understood, or "".
const std::string& gemm_cpu_isa_env_error();
bool gemm_cpu_has_bf16();                // AVX-512 with AVX512_BF16 (vdpbf16ps)
GemmIsa gemm_isa();                      // in use: gemm_cpu_isa() capped by gemm_limit_isa
// Caps the ISA in use (kAvx512 = no cap). Not for use while GEMMs run.
void gemm_limit_isa(GemmIsa cap);
// True when the AVX2 code paths (the packers that have one) are in use.
bool gemm_use_avx2();
// True when bf16 problems run on vdpbf16ps; otherwise they run on a portable
// emulation (the same roundings of the operands, float32 sums of exact
// products), which the tests use on CPUs without AVX512_BF16.
bool gemm_bf16_native();
// How many B micro-panels one microkernel call takes (2 on AVX-512, else 1):
// the engine packs that many before running them, which packers that
// prefetch for the next panel want to know.
int gemm_panels_per_kernel_call();
// The microkernel a float32 (bf16 = false) or bf16 problem runs on now:
// "generic", "avx2", "avx512", "avx512-bf16" or "generic-bf16".
const char* gemm_kernel_name(bool bf16 = false);

// bfloat16 rounding as the packers do it (and as vcvtneps2bf16 does):
// round to nearest even; zeros and float32 subnormals become signed zeros,
// NaNs stay (quiet) NaNs.
uint16_t float_to_bf16(float x);
// bf16_to_float(float_to_bf16(x)), inline and branch-free so that loops
// vectorise: zeros and subnormals to signed zero, NaN quieted, otherwise
// rounded to nearest even.
inline float round_to_bf16(float x) {
  uint32_t u;
  __builtin_memcpy(&u, &x, sizeof u);
  const uint32_t zero = u & 0x80000000u;
  const uint32_t nan = (u | 0x00400000u) & 0xFFFF0000u;
  const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
  const uint32_t r = (u & 0x7F800000u) == 0 ? zero : (u & 0x7FFFFFFFu) > 0x7F800000u ? nan : rounded;
  float y;
  __builtin_memcpy(&y, &r, sizeof y);
  return y;
}
float bf16_to_float(uint16_t h);

// Test hook: the most floats of shared pre-packed panels one K super-block
// may hold (0 restores the default), so tests reach the super-block path with
// small problems. Like the K blocks, this moves no bits of the result.
void gemm_set_prepack_limit(int64_t floats);

}  // namespace cpu
}  // namespace ddpm
