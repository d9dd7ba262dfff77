// 2x2 stride-2 transposed convolution (the up path's upsampling), forward
// and backward, as GEMMs on the engine of gemm.h. Windows do not overlap, so
// each output pixel has exactly one input pixel:
//   y[n,co,2h+a,2w+b] = b[co] + sum_ci x[n,ci,h,w] * w[ci,co,a,b].
// With j = (co,a,b) = co*4 + a*2 + b and q = (n,h,w) an input pixel:
//   forward          Y4[j][q]  = sum_ci W[ci][j] * X[ci][q]          M = 4Co, K = Ci
//   backward data    dX[ci][q] = sum_j  W[ci][j] * dY4[j][q]         M = Ci,  K = 4Co
//   backward filter  dW[ci][j] = sum_q  X[ci][q] * dY4[j][q]         M = Ci,  K = pixels
// where Y4 / dY4 view the (N, Co, 2H, 2W) tensor through that index map.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "cpu_ops.h"
#include "gemm.h"
#include "nchw_gemm.h"
#include "reduce.h"
#include "simd.h"

namespace ddpm {
namespace cpu {

namespace {

void check_sizes(const char* op, int N, int Cin, int H, int W, int Cout) {
  if (N < 0 || Cin < 0 || H < 0 || W < 0 || Cout < 0)
    throw Error(std::string(op) + ": negative size (N=" + std::to_string(N) + " Cin=" +
                std::to_string(Cin) + " H=" + std::to_string(H) + " W=" + std::to_string(W) +
                " Cout=" + std::to_string(Cout) + ")");
}

// Index helpers for the (N, Co, 2H, 2W) side seen as [j = (co,a,b)][q = (n,h,w)]:
// element = pixel_offset(q) + tap_offset(j).
struct UpsampledView {
  int64_t H, W, HW, Co;
  int64_t pixel_offset(int64_t q) const {
    const int64_t n = q / HW, p = q % HW, h = p / W, w = p % W;
    return n * Co * 4 * HW + (2 * h) * (2 * W) + 2 * w;
  }
  // out[i] = pixel_offset(q0 + i) for i < count, stepping (n, h, w) instead
  // of dividing per pixel.
  void pixel_offsets(int64_t q0, int count, int64_t* out) const {
    int64_t n = q0 / HW, p = q0 % HW, h = p / W, w = p % W;
    for (int i = 0; i < count; ++i) {
      out[i] = n * Co * 4 * HW + (2 * h) * (2 * W) + 2 * w;
      if (++w == W) {
        w = 0;
        if (++h == H) {
          h = 0;
          ++n;
        }
      }
    }
  }
  int64_t tap_offset(int64_t j) const {
    const int64_t co = j >> 2, a = (j >> 1) & 1, b = j & 1;
    return co * 4 * HW + a * (2 * W) + b;
  }
};

// Plain NCHW (N, C, H, W) seen as [c][q]: the input side.
struct PlanarView {
  int64_t HW, C;
  int64_t offset(int64_t c, int64_t q) const { return (q / HW * C + c) * HW + q % HW; }
};

// dst[k * MR + r] = w[(k0 + k) * ld + m0 + r]: rows of A that are columns of w.
void pack_columns(float* dst, const float* w, int64_t ld, int64_t m0, int rows, int64_t k0, int kc) {
  constexpr int MR = kGemmMR;
  if (rows == MR) {
    for (int i = 0; i < kc; ++i) std::memcpy(dst + i * MR, w + (k0 + i) * ld + m0, sizeof(float) * MR);
    return;
  }
  for (int i = 0; i < kc; ++i) {
    const float* src = w + (k0 + i) * ld + m0;
    for (int r = 0; r < MR; ++r) dst[i * MR + r] = r < rows ? src[r] : 0.0f;
  }
}

// dst[k * NR + j] = t[offset(c0 + k, q0 + j)] for an NCHW tensor: a run of
// pixels of each channel (contiguous within a sample).
void pack_planar(float* dst, const float* t, const PlanarView& v, int64_t c0, int kc, int64_t q0,
                 int cols) {
  constexpr int NR = kGemmNR;
  int64_t base[NR];
  for (int j = 0; j < NR; ++j) base[j] = j < cols ? v.offset(0, q0 + j) : -1;
  const bool contiguous = cols == NR && base[NR - 1] == base[0] + NR - 1;
  for (int i = 0; i < kc; ++i) {
    float* d = dst + i * NR;
    const float* plane = t + (c0 + i) * v.HW;
    if (contiguous) {
      for (int j = 0; j < NR; ++j) d[j] = plane[base[0] + j];
    } else {
      for (int j = 0; j < NR; ++j) d[j] = base[j] >= 0 ? plane[base[j]] : 0.0f;
    }
  }
}

class UpForwardProblem final : public GemmProblem {
 public:
  UpForwardProblem(const float* x, const float* w, const float* bias4, float* y, int N, int Ci,
                   int H, int W, int Co)
      : x_(x), w_(w), y_(y), in_{static_cast<int64_t>(H) * W, Ci},
        out_{H, W, static_cast<int64_t>(H) * W, Co} {
    M = 4 * static_cast<int64_t>(Co);
    this->N = static_cast<int64_t>(N) * H * W;
    K = Ci;
    row_bias = bias4;
  }
  void pack_a(float* dst, int64_t m0, int rows, int64_t k0, int kc) const override {
    pack_columns(dst, w_, M, m0, rows, k0, kc);
  }
  void pack_b(float* dst, int64_t k0, int kc, int64_t n0, int cols) const override {
    pack_planar(dst, x_, in_, k0, kc, n0, cols);
  }
  float* direct_tile(int64_t, int64_t, int64_t*) const override { return nullptr; }
  // Rows m0, m0 + 1 (m0 even) are (co, a, b = 0) and (co, a, b = 1): over a
  // run of pixels along one input row they interleave into one contiguous
  // run of output row 2h + a. So the tile goes out as pairs of rows, a run
  // at a time, with no per-element index arithmetic.
  void store_tile(const float* tile, int64_t m0, int rows, int64_t n0, int cols) const override {
    for_each_run(m0, rows, n0, cols, [&](float* out, int r, int j, int len) {
      const float* b0 = tile + r * kGemmNR + j;
      const float* b1 = b0 + kGemmNR;
      for (int t = 0; t < len; ++t) {
        out[2 * t] = b0[t];
        out[2 * t + 1] = b1[t];
      }
    });
  }
  void load_tile(float* tile, int64_t m0, int rows, int64_t n0, int cols) const override {
    for_each_run(m0, rows, n0, cols, [&](float* in, int r, int j, int len) {
      float* b0 = tile + r * kGemmNR + j;
      float* b1 = b0 + kGemmNR;
      for (int t = 0; t < len; ++t) {
        b0[t] = in[2 * t];
        b1[t] = in[2 * t + 1];
      }
    });
  }

 private:
  // Tile rows r, r + 1 (r even) are (co, a, b = 0) and (co, a, b = 1): over a
  // run of pixels along one input row they interleave into one contiguous run
  // of output row 2h + a. fn(output run, r, first column j, run length) is
  // called per pair of rows and run of the tile's pixels, so the tile goes
  // out without per-element index arithmetic. M = 4 Co and MR are even, so
  // tiles start on even rows and hold whole pairs.
  template <typename Fn>
  void for_each_run(int64_t m0, int rows, int64_t n0, int cols, Fn fn) const {
    const int64_t W = out_.W, H = out_.H;
    int64_t n = n0 / out_.HW, h = (n0 % out_.HW) / W, w = n0 % W;
    for (int j = 0; j < cols;) {
      const int len = static_cast<int>(std::min<int64_t>(cols - j, W - w));
      float* pixel = y_ + n * out_.Co * 4 * out_.HW + (2 * h) * (2 * W) + 2 * w;
      for (int r = 0; r + 1 < rows; r += 2) fn(pixel + out_.tap_offset(m0 + r), r, j, len);
      j += len;
      w += len;
      if (w == W) {
        w = 0;
        if (++h == H) {
          h = 0;
          ++n;
        }
      }
    }
  }

 private:
  const float* x_;
  const float* w_;
  float* y_;
  PlanarView in_;
  UpsampledView out_;
};

#if defined(DDPM_X86)
// Two panel rows of the data gradient's B: dst[j] = src[p0 + 2j], dst[16 + j]
// = src[p0 + 2j + 1] for j < 8, and the same from p1 for j = 8..15.
__attribute__((target(DDPM_AVX512))) void split_pairs16_avx512(float* dst, const float* src, int64_t p0, int64_t p1) {
  const __m512 a = _mm512_loadu_ps(src + p0), b = _mm512_loadu_ps(src + p1);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  _mm512_storeu_ps(dst, _mm512_permutex2var_ps(a, even, b));
  _mm512_storeu_ps(dst + 16, _mm512_permutex2var_ps(a, odd, b));
}

// The same with AVX2, eight floats at a time.
__attribute__((target("avx2,fma"))) void split_pairs16_avx2(float* dst, const float* src, int64_t p0, int64_t p1) {
  const int64_t p[2] = {p0, p1};
  for (int h = 0; h < 2; ++h) {
    const __m256 a = _mm256_loadu_ps(src + p[h]), b = _mm256_loadu_ps(src + p[h] + 8);
    // shuffle_ps keeps 128-bit lanes apart: (a0 a2 b0 b2 | a4 a6 b4 b6); the 64-bit permute orders them.
    const __m256 even = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), odd = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    _mm256_storeu_ps(dst + 8 * h, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), 0xD8)));
    _mm256_storeu_ps(dst + 16 + 8 * h, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(odd), 0xD8)));
  }
}
#endif

class UpDataGradProblem final : public GemmProblemInto<NchwMatrix> {
 public:
  UpDataGradProblem(const float* w, const float* dy, float* dx, int N, int Ci, int H, int W, int Co)
      : GemmProblemInto<NchwMatrix>(NchwMatrix{dx, Ci, static_cast<int64_t>(H) * W}),
        w_(w), dy_(dy), HW_(static_cast<int64_t>(H) * W),
        up_{H, W, static_cast<int64_t>(H) * W, Co} {
    M = Ci;
    this->N = static_cast<int64_t>(N) * HW_;
    K = 4 * static_cast<int64_t>(Co);
  }
  void pack_a(float* dst, int64_t m0, int rows, int64_t k0, int kc) const override {
    gemm_pack_a_rows(dst, w_ + m0 * K + k0, K, rows, kc);
  }
  void pack_b(float* dst, int64_t k0, int kc, int64_t n0, int cols) const override {
    constexpr int NR = kGemmNR;
    int64_t pix[NR];
    up_.pixel_offsets(n0, cols, pix);
    int i = 0;
#if defined(DDPM_X86)
    // Rows k, k + 1 (k even) are taps (co, a, b = 0) and (co, a, 1): each run
    // of 8 pixels along an input row is 16 adjacent floats of dy, evens for
    // b = 0 and odds for b = 1.
    const GemmIsa isa = gemm_isa();
    if (cols == NR && k0 % 2 == 0 && isa >= GemmIsa::kAvx2 && pix[7] == pix[0] + 14 && pix[15] == pix[8] + 14) {
      const auto split = isa == GemmIsa::kAvx512 ? split_pairs16_avx512 : split_pairs16_avx2;
      for (; i + 2 <= kc; i += 2) split(dst + static_cast<int64_t>(i) * NR, dy_ + up_.tap_offset(k0 + i), pix[0], pix[8]);
    }
#endif
    for (; i < kc; ++i) {
      float* d = dst + i * NR;
      const float* src = dy_ + up_.tap_offset(k0 + i);
      for (int j = 0; j < cols; ++j) d[j] = src[pix[j]];
      for (int j = cols; j < NR; ++j) d[j] = 0.0f;
    }
  }

 private:
  const float* w_;
  const float* dy_;
  int64_t HW_;
  UpsampledView up_;
};

#if defined(DDPM_X86)
// Eight panel rows of the filter gradient's B: row i (pixel i of a run of
// eight along an input row, starting at src) holds the 16 values
// src[tap[j] + 2i], j < 16, where tap pairs (2m, 2m + 1) are adjacent
// floats (b = 0, 1): the pairs of eight 16-float runs, transposed.
__attribute__((target(DDPM_AVX512))) void pack_pairs8_avx512(float* dst, const float* src, const int64_t* tap) {
  __m512d r[8];
  for (int m = 0; m < 8; ++m) r[m] = _mm512_castps_pd(_mm512_loadu_ps(src + tap[2 * m]));
  // An 8 x 8 transpose of doubles (each a float pair), r[m][i] -> out[i][m]:
  // pairs of rows interleaved, then a 4 x 4 transpose of 128-bit lanes.
  __m512d t[8];
  for (int m = 0; m < 8; m += 2) {
    t[m] = _mm512_unpacklo_pd(r[m], r[m + 1]);      // lane l: (r[m][2l], r[m+1][2l])
    t[m + 1] = _mm512_unpackhi_pd(r[m], r[m + 1]);  // lane l: (r[m][2l+1], r[m+1][2l+1])
  }
  for (int odd = 0; odd < 2; ++odd) {
    const __m512d a = t[odd], b = t[2 + odd], c = t[4 + odd], d = t[6 + odd];
    const __m512d u0 = _mm512_shuffle_f64x2(a, b, 0x44), u1 = _mm512_shuffle_f64x2(c, d, 0x44);
    const __m512d u2 = _mm512_shuffle_f64x2(a, b, 0xEE), u3 = _mm512_shuffle_f64x2(c, d, 0xEE);
    double* out = reinterpret_cast<double*>(dst);
    _mm512_storeu_pd(out + 8 * (0 + odd), _mm512_shuffle_f64x2(u0, u1, 0x88));  // pixel 0 + odd
    _mm512_storeu_pd(out + 8 * (2 + odd), _mm512_shuffle_f64x2(u0, u1, 0xDD));  // pixel 2 + odd
    _mm512_storeu_pd(out + 8 * (4 + odd), _mm512_shuffle_f64x2(u2, u3, 0x88));  // pixel 4 + odd
    _mm512_storeu_pd(out + 8 * (6 + odd), _mm512_shuffle_f64x2(u2, u3, 0xDD));  // pixel 6 + odd
  }
}

// The same with AVX2: four 4 x 4 transposes of doubles.
__attribute__((target("avx2,fma"))) void pack_pairs8_avx2(float* dst, const float* src, const int64_t* tap) {
  double* out = reinterpret_cast<double*>(dst);
  for (int half = 0; half < 2; ++half)      // pixels 4 * half .. 4 * half + 3
    for (int block = 0; block < 2; ++block) {  // runs m = 4 * block .. 4 * block + 3
      __m256d r[4];
      for (int k = 0; k < 4; ++k) r[k] = _mm256_castps_pd(_mm256_loadu_ps(src + tap[2 * (4 * block + k)] + 8 * half));
      const __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
      const __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
      const __m256d rows[4] = {_mm256_permute2f128_pd(t0, t2, 0x20), _mm256_permute2f128_pd(t1, t3, 0x20),
                               _mm256_permute2f128_pd(t0, t2, 0x31), _mm256_permute2f128_pd(t1, t3, 0x31)};
      for (int i = 0; i < 4; ++i) _mm256_storeu_pd(out + 8 * (4 * half + i) + 4 * block, rows[i]);
    }
}
#endif

class UpFilterGradProblem final : public GemmProblemInto<RowMajorMatrix> {
 public:
  UpFilterGradProblem(const float* x, const float* dy, float* dw, int N, int Ci, int H, int W,
                      int Co)
      : GemmProblemInto<RowMajorMatrix>(RowMajorMatrix{dw, 4 * static_cast<int64_t>(Co)}),
        x_(x), dy_(dy), Ci_(Ci), HW_(static_cast<int64_t>(H) * W),
        up_{H, W, static_cast<int64_t>(H) * W, Co} {
    M = Ci;
    this->N = 4 * static_cast<int64_t>(Co);
    K = static_cast<int64_t>(N) * HW_;
  }
  // dst[k * MR + r] = x[n][m0 + r][p] for pixel k0 + k = (n, p).
  void pack_a(float* dst, int64_t m0, int rows, int64_t k0, int kc) const override {
    pack_channels_by_pixel(dst, x_, Ci_, HW_, m0, rows, k0, kc);
  }
  void pack_a_bf16(uint16_t* dst, int64_t m0, int rows, int64_t k0, int kc) const override {
    pack_channels_by_pixel_bf16(*this, dst, x_, Ci_, HW_, m0, rows, k0, kc);
  }
  // dst[k * NR + j] = dY4[n0 + j][k0 + k]
  void pack_b(float* dst, int64_t k0, int kc, int64_t n0, int cols) const override {
    constexpr int NR = kGemmNR;
    int64_t tap[NR], pix[kPixelBatch];
    for (int j = 0; j < cols; ++j) tap[j] = up_.tap_offset(n0 + j);
#if defined(DDPM_X86)
    // A panel's 16 columns are 4 channels x (a, b); for 8 pixels along an
    // input row, each (channel, a) is one run of 16 floats of dy (the b pairs
    // side by side): an 8 x 8 transpose of float pairs gives 8 panel rows.
    const GemmIsa isa = gemm_isa();
    if (cols == NR && isa >= GemmIsa::kAvx2 && up_.W % 8 == 0) {
      const auto transpose = isa == GemmIsa::kAvx512 ? pack_pairs8_avx512 : pack_pairs8_avx2;
      int i0 = 0;
      for (; i0 + 8 <= kc && (k0 + i0) % 8 == 0; i0 += 8) {
        up_.pixel_offsets(k0 + i0, 1, pix);
        transpose(dst + static_cast<int64_t>(i0) * NR, dy_ + pix[0], tap);
      }
      if (i0 == kc) return;
      dst += static_cast<int64_t>(i0) * NR;
      k0 += i0;
      kc -= i0;
    }
#endif
    for (int i0 = 0; i0 < kc; i0 += kPixelBatch) {
      const int count = std::min(kPixelBatch, kc - i0);
      up_.pixel_offsets(k0 + i0, count, pix);
      for (int i = 0; i < count; ++i) {
        float* d = dst + (i0 + i) * NR;
        const float* src = dy_ + pix[i];
        for (int j = 0; j < cols; ++j) d[j] = src[tap[j]];
        for (int j = cols; j < NR; ++j) d[j] = 0.0f;
      }
    }
  }

 private:
  static constexpr int kPixelBatch = 64;

  const float* x_;
  const float* dy_;
  int64_t Ci_, HW_;
  UpsampledView up_;
};

}  // namespace

void conv_transpose2x2_forward(ThreadPool& pool, ConvMath math, const float* x, const float* w,
                               const float* b, float* y, int N, int Cin, int H, int W, int Cout) {
  check_sizes("conv_transpose2x2_forward", N, Cin, H, W, Cout);
  std::vector<float> bias4;
  if (b) {
    bias4.resize(4 * static_cast<size_t>(Cout));
    for (size_t j = 0; j < bias4.size(); ++j) bias4[j] = b[j / 4];
  }
  UpForwardProblem problem(x, w, b ? bias4.data() : nullptr, y, N, Cin, H, W, Cout);
  run_conv_gemm(pool, math, problem);
}

void conv_transpose2x2_backward(ThreadPool& pool, ConvMath math, const float* x, const float* w,
                                const float* dy, float* dx, float* dw, float* db, int N, int Cin,
                                int H, int W, int Cout) {
  check_sizes("conv_transpose2x2_backward", N, Cin, H, W, Cout);
  if (db) channel_sums(pool, dy, db, N, Cout, 4 * static_cast<int64_t>(H) * W);
  UpFilterGradProblem filter(x, dy, dw, N, Cin, H, W, Cout);
  run_conv_gemm(pool, math, filter);
  if (!dx) return;
  UpDataGradProblem data(w, dy, dx, N, Cin, H, W, Cout);
  run_conv_gemm(pool, math, data);
}

}  // namespace cpu
}  // namespace ddpm
