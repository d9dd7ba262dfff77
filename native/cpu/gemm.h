// A blocked, packed single-precision GEMM engine for the CPU ops:
//
//   C (M x N) = A (M x K) * B (K x N)  [+ row_bias[m]]
//
// where neither A, B nor C need to exist as plain matrices: a GemmProblem
// packs panels of A and B on demand (this is where a convolution does its
// im2col gather, implicitly, a small panel at a time) and says where the
// result tiles go (NCHW planes, strided outputs, scattered pixels).
//
// Layout of the packed panels the microkernel reads:
//   A panel: kc groups of kGemmMR floats, dst[k * MR + r] = A[m0 + r][k0 + k]
//   B panel: kc groups of kGemmNR floats, dst[k * NR + j] = B[k0 + k][n0 + j]
// Rows r >= rows (columns j >= cols) of a partial panel must be written as 0.
//
// Determinism: every element of C is the sum over K in fixed blocks whose
// bounds depend only on K; within a block the products are accumulated in k
// order by one thread, and blocks are added to C in order. How the M x N
// tiles are spread over threads (which may depend on the thread count) has
// no effect on any bit of the result.
#pragma once

#include <cstdint>

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

  // dst[k * MR + r] = A[m0 + r][k0 + k] for k < kc, r < rows; 0 for r >= rows.
  virtual void pack_a(float* dst, int64_t m0, int rows, int64_t k0, int kc) const = 0;
  // dst[k * NR + j] = B[k0 + k][n0 + j] for k < kc, j < cols; 0 for j >= cols.
  virtual void pack_b(float* dst, int64_t k0, int kc, int64_t n0, int cols) const = 0;
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

// Which microkernel runs: "avx2" (AVX2+FMA, chosen when the CPU has them) or
// "generic" (portable C++). Tests may force the generic one to check it.
const char* gemm_kernel_name();
void gemm_force_generic(bool on);
// True when the AVX2 code paths (microkernel and the packers that have one)
// are in use: the CPU has AVX2 and FMA and the generic kernel is not forced.
bool gemm_use_avx2();

// Test hook: the most floats of shared pre-packed panels one K super-block
// may hold (0 restores the default), so tests reach the super-block path with
// small problems. Like the K blocks, this moves no bits of the result.
void gemm_set_prepack_limit(int64_t floats);

}  // namespace cpu
}  // namespace ddpm
