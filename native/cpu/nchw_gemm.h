// Pieces shared by the GEMM problems over NCHW tensors (conv2d.cpp,
// conv_transpose.cpp): an (N, C, H, W) tensor seen as the matrix
// T[c][q] with q = n * HW + p a pixel of the whole batch.
#pragma once

#include <algorithm>
#include <cstdint>

#include "cpu_ops.h"
#include "gemm.h"

namespace ddpm {
namespace cpu {

struct NchwMatrix {
  float* t;
  int64_t C, HW;

  float* at(int64_t c, int64_t q) const { return t + ((q / HW) * C + c) * HW + q % HW; }

  // GemmProblem::direct_tile for C = this matrix: a tile whose 16 pixels lie
  // in one sample is a block of rows HW apart.
  float* direct_tile(int64_t m0, int64_t n0, int64_t* ldc) const {
    if (n0 % HW + kGemmNR > HW) return nullptr;
    *ldc = HW;
    return at(m0, n0);
  }
  void store_tile(const float* tile, int64_t m0, int rows, int64_t n0, int cols) const {
    for (int j = 0; j < cols; ++j) {
      float* out = at(m0, n0 + j);
      for (int r = 0; r < rows; ++r) out[r * HW] = tile[r * kGemmNR + j];
    }
  }
  void load_tile(float* tile, int64_t m0, int rows, int64_t n0, int cols) const {
    for (int j = 0; j < cols; ++j) {
      const float* in = at(m0, n0 + j);
      for (int r = 0; r < rows; ++r) tile[r * kGemmNR + j] = in[r * HW];
    }
  }
};

// A GEMM result that is a plain row-major matrix (the filter gradients).
struct RowMajorMatrix {
  float* t;
  int64_t ld;

  float* direct_tile(int64_t m0, int64_t n0, int64_t* ldc) const {
    *ldc = ld;
    return t + m0 * ld + n0;
  }
  void store_tile(const float* tile, int64_t m0, int rows, int64_t n0, int cols) const {
    for (int r = 0; r < rows; ++r)
      std::copy(tile + r * kGemmNR, tile + r * kGemmNR + cols, t + (m0 + r) * ld + n0);
  }
  void load_tile(float* tile, int64_t m0, int rows, int64_t n0, int cols) const {
    for (int r = 0; r < rows; ++r)
      std::copy(t + (m0 + r) * ld + n0, t + (m0 + r) * ld + n0 + cols, tile + r * kGemmNR);
  }
};

// A GemmProblem whose result C is held by an output view (NchwMatrix,
// RowMajorMatrix): the tile accessors forward to it, so a problem only
// describes how to pack its operands.
template <class Out>
class GemmProblemInto : public GemmProblem {
 public:
  explicit GemmProblemInto(const Out& out) : out_(out) {}
  float* direct_tile(int64_t m0, int64_t n0, int64_t* ldc) const final { return out_.direct_tile(m0, n0, ldc); }
  void store_tile(const float* tile, int64_t m0, int rows, int64_t n0, int cols) const final {
    out_.store_tile(tile, m0, rows, n0, cols);
  }
  void load_tile(float* tile, int64_t m0, int rows, int64_t n0, int cols) const final {
    out_.load_tile(tile, m0, rows, n0, cols);
  }

 protected:
  Out out_;
};

// The A side of a filter gradient: rows [c0, c0 + rows) of an NCHW tensor
// as a (C x N*HW) matrix, pixels [q0, q0 + kc), packed k-major:
// dst[k * MR + r] = t[n][c0 + r][p] with q0 + k = n * HW + p.
inline void pack_channels_by_pixel(float* dst, const float* t, int64_t C, int64_t HW, int64_t c0,
                                   int rows, int64_t q0, int kc) {
  int64_t q = q0;
  int k = 0;
  while (k < kc) {  // runs of pixels within one sample
    const int64_t n = q / HW, p = q % HW;
    const int run = static_cast<int>(std::min<int64_t>(kc - k, HW - p));
    gemm_pack_a_rows(dst + static_cast<int64_t>(k) * kGemmMR, t + (n * C + c0) * HW + p, HW, rows, run);
    k += run;
    q += run;
  }
}

// pack_channels_by_pixel into a bf16 panel (pairs of pixels interleaved).
// With HW and q0 even every run of pixels starts a pair and all but the
// panel's last are whole pairs; otherwise `problem`'s default packer (float32
// panel, then rounded) does it.
inline void pack_channels_by_pixel_bf16(const GemmProblem& problem, uint16_t* dst, const float* t, int64_t C,
                                        int64_t HW, int64_t c0, int rows, int64_t q0, int kc) {
  if (HW % 2 != 0 || q0 % 2 != 0) {
    problem.GemmProblem::pack_a_bf16(dst, c0, rows, q0, kc);
    return;
  }
  int64_t q = q0;
  int k = 0;
  while (k < kc) {
    const int64_t n = q / HW, p = q % HW;
    const int run = static_cast<int>(std::min<int64_t>(kc - k, HW - p));
    gemm_pack_a_rows_bf16(dst + static_cast<int64_t>(k) * kGemmMR, t + (n * C + c0) * HW + p, HW, rows, run);
    k += run;
    q += run;
  }
}

// Runs a convolution's GEMM in the backend's math (float32 or bf16 operands).
inline void run_conv_gemm(ThreadPool& pool, ConvMath math, GemmProblem& problem) {
  problem.bf16 = math == ConvMath::kBf16;
  gemm_run(pool, problem);
}

}  // namespace cpu
}  // namespace ddpm
