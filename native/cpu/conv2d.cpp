// 3x3 (pad 1) and 1x1 convolution, stride 1, forward and backward, as
// implicit GEMMs on the engine of gemm.h (batch folded into the pixel
// dimension, so the 2x2 levels still give the microkernel full tiles):
//
//   forward          Y[co][(n,p)]     = sum_(ci,t) W[co][(ci,t)] * X~[(ci,t)][(n,p)]
//   backward data    dX[ci][(n,p)]    = sum_(co,t) W[co][ci][T-1-t] * dY~[(co,t)][(n,p)]
//                    (a 3x3 pad-1 conv is its own adjoint up to flipping and
//                    transposing the weights, so this is the forward problem)
//   backward filter  dW[co][(ci,t)]   = sum_(n,p) dY[co][(n,p)] * X~[(ci,t)][(n,p)]
//
// X~ is im2col of X (tap t = kh*k + kw reads X at (h + kh - pad, w + kw - pad),
// zero outside); it never exists in memory: pack_b gathers one 16-pixel (or
// 16-column) panel of it at a time.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "cpu_ops.h"
#include "gemm.h"
#include "reduce.h"

namespace ddpm {
namespace cpu {
namespace {

void check_kernel_size(const char* op, int k) {
  if (k != 1 && k != 3)
    throw Error(std::string(op) + ": kernel size must be 1 or 3, got " + std::to_string(k));
}

void check_sizes(const char* op, int N, int Cin, int H, int W, int Cout) {
  if (N < 0 || Cin < 0 || H < 0 || W < 0 || Cout < 0)
    throw Error(std::string(op) + ": negative size (N=" + std::to_string(N) + " Cin=" +
                std::to_string(Cin) + " H=" + std::to_string(H) + " W=" + std::to_string(W) +
                " Cout=" + std::to_string(Cout) + ")");
}

// Packs rows [c0, c0 + rows) of an NCHW tensor seen as a (C x N*HW) matrix,
// columns [q0, q0 + kc), transposed: dst[k * MR + r] = t[n][c0 + r][p] with
// q0 + k = n * HW + p. (The A side of both backward-filter GEMMs.)
void pack_channels_by_pixel(float* dst, const float* t, int64_t C, int64_t HW, int64_t c0,
                            int rows, int64_t q0, int kc) {
  constexpr int MR = kGemmMR;
  if (rows < MR) std::fill(dst, dst + static_cast<int64_t>(kc) * MR, 0.0f);
  int64_t q = q0;
  int k = 0;
  while (k < kc) {
    const int64_t n = q / HW, p = q % HW;
    const int run = static_cast<int>(std::min<int64_t>(kc - k, HW - p));
    const float* src = t + (n * C + c0) * HW + p;
    float* d = dst + static_cast<int64_t>(k) * MR;
    if (rows == MR) {
      const float *s0 = src, *s1 = src + HW, *s2 = src + 2 * HW, *s3 = src + 3 * HW,
                  *s4 = src + 4 * HW, *s5 = src + 5 * HW;
      for (int i = 0; i < run; ++i) {
        d[i * MR + 0] = s0[i];
        d[i * MR + 1] = s1[i];
        d[i * MR + 2] = s2[i];
        d[i * MR + 3] = s3[i];
        d[i * MR + 4] = s4[i];
        d[i * MR + 5] = s5[i];
      }
    } else {
      for (int r = 0; r < rows; ++r) {
        const float* s = src + r * HW;
        for (int i = 0; i < run; ++i) d[i * MR + r] = s[i];
      }
    }
    k += run;
    q += run;
  }
}

// Y (N, Co, H, W) = conv(X (N, Ci, H, W)): M = Co, N = N*H*W, K = Ci*k*k.
// The weights are read either as they are stored for the forward
// (w[co][ci][t]) or, for backward-data, transposed and flipped from the
// forward weights of the adjoint conv (w[ci][co][T-1-t], the forward layout
// with Ci and Co swapped).
class ConvProblem final : public GemmProblem {
 public:
  ConvProblem(const float* x, const float* w, bool adjoint_weights, const float* bias, float* y,
              int N, int Ci, int H, int W, int Co, int k)
      : x_(x), w_(w), adjoint_(adjoint_weights), y_(y), Nb_(N), Ci_(Ci), H_(H), W_(W), Co_(Co),
        k_(k), T_(k * k), pad_(k / 2), HW_(static_cast<int64_t>(H) * W) {
    M = Co;
    this->N = static_cast<int64_t>(N) * HW_;
    K = static_cast<int64_t>(Ci) * T_;
    row_bias = bias;
  }

  void pack_a(float* dst, int64_t m0, int rows, int64_t k0, int kc) const override {
    constexpr int MR = kGemmMR;
    if (rows < MR) std::fill(dst, dst + static_cast<int64_t>(kc) * MR, 0.0f);
    if (!adjoint_) {
      for (int r = 0; r < rows; ++r) {
        const float* src = w_ + (m0 + r) * K + k0;
        for (int i = 0; i < kc; ++i) dst[i * MR + r] = src[i];
      }
      return;
    }
    // A[m][(c, t)] = w[c][m][T-1-t]  (w stored as (Ci, Co, T) of the adjoint).
    for (int i = 0; i < kc; ++i) {
      const int64_t kk = k0 + i, c = kk / T_, t = kk % T_;
      const float* src = w_ + (c * Co_ + m0) * T_ + (T_ - 1 - t);
      for (int r = 0; r < rows; ++r) dst[i * MR + r] = src[r * T_];
    }
  }

  void pack_b(float* dst, int64_t k0, int kc, int64_t n0, int cols) const override {
    constexpr int NR = kGemmNR;
    const int64_t p0 = n0 % HW_;
    if (cols == NR && p0 % W_ + NR <= W_) {
      pack_b_one_row(dst, k0, kc, n0 / HW_, p0 / W_, static_cast<int>(p0 % W_));
      return;
    }
    // General panel (small images, panels crossing rows or samples): per tap,
    // the offset of each column's source pixel from its (sample, channel 0)
    // plane, or -1 where the tap falls in the zero padding.
    int64_t sample_base[NR];
    int32_t offset[9][NR];
    for (int j = 0; j < NR; ++j) {
      if (j >= cols) {
        sample_base[j] = 0;
        for (int t = 0; t < T_; ++t) offset[t][j] = -1;
        continue;
      }
      const int64_t q = n0 + j, n = q / HW_, p = q % HW_;
      const int h = static_cast<int>(p / W_), w = static_cast<int>(p % W_);
      sample_base[j] = n * Ci_ * HW_;
      for (int t = 0; t < T_; ++t) {
        const int hs = h + t / k_ - pad_, ws = w + t % k_ - pad_;
        offset[t][j] = (hs >= 0 && hs < H_ && ws >= 0 && ws < W_) ? hs * W_ + ws : -1;
      }
    }
    int64_t c = k0 / T_;
    int t = static_cast<int>(k0 % T_);
    for (int i = 0; i < kc; ++i) {
      float* d = dst + i * NR;
      const float* plane = x_ + c * HW_;
      for (int j = 0; j < NR; ++j) {
        const int32_t o = offset[t][j];
        d[j] = o >= 0 ? plane[sample_base[j] + o] : 0.0f;
      }
      if (++t == T_) {
        t = 0;
        ++c;
      }
    }
  }

  float* direct_tile(int64_t m0, int64_t n0, int64_t* ldc) const override {
    const int64_t n = n0 / HW_, p = n0 % HW_;
    if (p + kGemmNR > HW_) return nullptr;  // the tile crosses into the next sample
    *ldc = HW_;
    return y_ + (n * Co_ + m0) * HW_ + p;
  }

  void store_tile(const float* tile, int64_t m0, int rows, int64_t n0, int cols,
                  bool accumulate) const override {
    for (int j = 0; j < cols; ++j) {
      const int64_t q = n0 + j, n = q / HW_, p = q % HW_;
      float* out = y_ + (n * Co_ + m0) * HW_ + p;
      for (int r = 0; r < rows; ++r) {
        const float v = tile[r * kGemmNR + j];
        out[r * HW_] = accumulate ? out[r * HW_] + v : v;
      }
    }
  }

 private:
  // The fast panel: 16 pixels of one image row (h, w0..w0+15) of sample n.
  // Each K row is a shifted copy of an input row with at most one padded
  // element at either end.
  void pack_b_one_row(float* dst, int64_t k0, int kc, int64_t n, int64_t h, int w0) const {
    constexpr int NR = kGemmNR;
    const float* sample = x_ + n * Ci_ * HW_;
    int64_t c = k0 / T_;
    int t = static_cast<int>(k0 % T_);
    for (int i = 0; i < kc; ++i) {
      float* d = dst + i * NR;
      const int64_t hs = h + t / k_ - pad_;
      const int dw = t % k_ - pad_;
      if (hs < 0 || hs >= H_) {
        std::memset(d, 0, sizeof(float) * NR);
      } else {
        const float* src = sample + c * HW_ + hs * W_ + w0 + dw;
        if (w0 + dw >= 0 && w0 + dw + NR <= W_) {
          std::memcpy(d, src, sizeof(float) * NR);
        } else if (dw < 0) {  // w0 == 0: the first column reads the left padding
          d[0] = 0.0f;
          std::memcpy(d + 1, src + 1, sizeof(float) * (NR - 1));
        } else {  // w0 + 16 == W: the last column reads the right padding
          std::memcpy(d, src, sizeof(float) * (NR - 1));
          d[NR - 1] = 0.0f;
        }
      }
      if (++t == T_) {
        t = 0;
        ++c;
      }
    }
  }

  const float* x_;
  const float* w_;
  bool adjoint_;
  float* y_;
  int Nb_, Ci_, H_, W_, Co_, k_, T_, pad_;
  int64_t HW_;
};

// dW (Co, Ci, k, k) = sum over pixels of dY x im2col(X): M = Co, N = Ci*k*k,
// K = N*H*W.
class ConvFilterGradProblem final : public GemmProblem {
 public:
  ConvFilterGradProblem(const float* x, const float* dy, float* dw, int N, int Ci, int H, int W,
                        int Co, int k)
      : x_(x), dy_(dy), dw_(dw), Ci_(Ci), H_(H), W_(W), Co_(Co), k_(k), T_(k * k), pad_(k / 2),
        HW_(static_cast<int64_t>(H) * W) {
    M = Co;
    this->N = static_cast<int64_t>(Ci) * T_;
    K = static_cast<int64_t>(N) * HW_;
  }

  void pack_a(float* dst, int64_t m0, int rows, int64_t k0, int kc) const override {
    pack_channels_by_pixel(dst, dy_, Co_, HW_, m0, rows, k0, kc);
  }

  // dst[i * NR + j] = X[n][ci_j][h + dh_j][w + dw_j] for pixel k0 + i = (n, h, w)
  // and column n0 + j = (ci_j, tap_j).
  void pack_b(float* dst, int64_t k0, int kc, int64_t n0, int cols) const override {
    constexpr int NR = kGemmNR;
    int64_t plane[NR];
    int dh[NR], dw[NR];
    for (int j = 0; j < cols; ++j) {
      const int64_t col = n0 + j, ci = col / T_, t = col % T_;
      plane[j] = ci * HW_;
      dh[j] = static_cast<int>(t / k_) - pad_;
      dw[j] = static_cast<int>(t % k_) - pad_;
    }
    int64_t q = k0;
    int i = 0;
    while (i < kc) {
      // A run of pixels along one image row.
      const int64_t n = q / HW_, p = q % HW_, h = p / W_, w0 = p % W_;
      const int run = static_cast<int>(std::min<int64_t>(kc - i, W_ - w0));
      const float* sample = x_ + n * Ci_ * HW_;
      float* d = dst + static_cast<int64_t>(i) * NR;
      for (int j = 0; j < cols; ++j) {
        const int64_t hs = h + dh[j];
        if (hs < 0 || hs >= H_) {
          for (int r = 0; r < run; ++r) d[r * NR + j] = 0.0f;
          continue;
        }
        const float* row = sample + plane[j] + hs * W_;
        // Columns w0 + r with 0 <= w0 + r + dw < W read the row; others pad.
        const int64_t shift = dw[j];
        const int lo = static_cast<int>(std::max<int64_t>(0, -shift - w0));
        const int hi = static_cast<int>(std::min<int64_t>(run, W_ - shift - w0));
        for (int r = 0; r < lo; ++r) d[r * NR + j] = 0.0f;
        const float* src = row + w0 + shift;
        for (int r = lo; r < hi; ++r) d[r * NR + j] = src[r];
        for (int r = std::max(lo, hi); r < run; ++r) d[r * NR + j] = 0.0f;
      }
      for (int j = cols; j < NR; ++j)
        for (int r = 0; r < run; ++r) d[r * NR + j] = 0.0f;
      i += run;
      q += run;
    }
  }

  float* direct_tile(int64_t m0, int64_t n0, int64_t* ldc) const override {
    *ldc = N;
    return dw_ + m0 * N + n0;
  }

  void store_tile(const float* tile, int64_t m0, int rows, int64_t n0, int cols,
                  bool accumulate) const override {
    for (int r = 0; r < rows; ++r) {
      float* out = dw_ + (m0 + r) * N + n0;
      for (int j = 0; j < cols; ++j)
        out[j] = accumulate ? out[j] + tile[r * kGemmNR + j] : tile[r * kGemmNR + j];
    }
  }

 private:
  const float* x_;
  const float* dy_;
  float* dw_;
  int Ci_, H_, W_, Co_, k_, T_, pad_;
  int64_t HW_;
};

}  // namespace

void conv2d_forward(ThreadPool& pool, const float* x, const float* w, const float* b, float* y,
                    int N, int Cin, int H, int W, int Cout, int k) {
  check_kernel_size("conv2d_forward", k);
  check_sizes("conv2d_forward", N, Cin, H, W, Cout);
  ConvProblem problem(x, w, /*adjoint_weights=*/false, b, y, N, Cin, H, W, Cout, k);
  gemm_run(pool, problem);
}

void conv2d_backward(ThreadPool& pool, const float* x, const float* w, const float* dy, float* dx,
                     float* dw, float* db, int N, int Cin, int H, int W, int Cout, int k) {
  check_kernel_size("conv2d_backward", k);
  check_sizes("conv2d_backward", N, Cin, H, W, Cout);
  if (db) channel_sums(pool, dy, db, N, Cout, static_cast<int64_t>(H) * W);
  ConvFilterGradProblem filter(x, dy, dw, N, Cin, H, W, Cout, k);
  gemm_run(pool, filter);
  if (!dx) return;
  ConvProblem data(dy, w, /*adjoint_weights=*/true, nullptr, dx, N, Cout, H, W, Cin, k);
  gemm_run(pool, data);
}

}  // namespace cpu
}  // namespace ddpm
