// 3x3 (pad 1) and 1x1 convolution, stride 1, forward and backward, as
// implicit GEMMs on the engine of gemm.h (batch folded into the pixel
// dimension, so the 2x2 levels still give the microkernel full tiles), for
// the shapes conv_taps.cpp and conv1x1_narrow.cpp do not take (they are
// tried first: the 3x3 filter gradient at W >= 16, the bf16 3x3 forward and
// data gradient at W % 16 == 0; 1x1 with at most 8 output channels):
//
//   forward          Y[co][(n,p)]     = sum_(ci,t) W[co][(ci,t)] * X~[(ci,t)][(n,p)]
//   backward data    dX[ci][(n,p)]    = sum_(co,t) W[co][ci][T-1-t] * dY~[(co,t)][(n,p)]
//                    (a 3x3 pad-1 conv is its own adjoint up to flipping and
//                    transposing the weights, so this is the forward problem)
//   backward filter  dW[co][(ci,t)]   = sum_(n,p) dY[co][(n,p)] * X~[(ci,t)][(n,p)]
//
// X~ is im2col of X (tap t = kh*k + kw reads X at (h + kh - pad, w + kw - pad),
// zero outside); it never exists in memory: pack_b gathers one 16-pixel (or
// 16-column) panel of it at a time. The packers have AVX2 versions (masked
// row loads; 8x8 transposes for the filter gradient, whose panels are
// pixel-major) used when gemm_use_avx2(), an AVX-512 version of the
// backward-data weights used on GemmIsa::kAvx512, and portable ones
// otherwise; all write the same panel, so the choice moves no bits. bf16
// panels are packed as float32 and rounded (GemmProblem's defaults), except
// the forward weights (plain rows: gemm_pack_a_rows_bf16) and the filter
// gradient's operands, which round as they are transposed. (An im2col packer
// that rounds as it packs measured 4-8% slower on Zen 5 than the AVX2 one
// and a separate rounding pass over the panel, which stays in L1; so did a
// zero-padded, pre-rounded copy of the input.)
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "avx2_transpose.h"
#include "batchnorm_eval.h"
#include "conv1x1_narrow.h"
#include "conv_small_cin.h"
#include "conv_taps.h"
#include "cpu_ops.h"
#include "gemm.h"
#include "nchw_gemm.h"
#include "reduce.h"
#include "simd.h"

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

// The taps of a k x k kernel (k in {1, 3}, pad k/2): row and column shift
// of tap t = kh * k + kw, so the packers never divide by k.
struct Taps {
  int count;
  int dh[9], dw[9];
  explicit Taps(int k) : count(k * k) {
    for (int t = 0; t < count; ++t) {
      dh[t] = t / k - k / 2;
      dw[t] = t % k - k / 2;
    }
  }
};

// One 16-pixel panel of im2col(X) for the forward / backward-data B side,
// when its pixels form 1, 2 or 4 runs that are contiguous in memory (one
// sample with HW % 16 == 0, or 16 / HW whole samples for HW = 8 or 4). For a
// given tap every pixel of a run reads its channel plane at the same flat
// shift dh*W + dw, so a K row is one masked load per run: lanes whose
// shifted pixel falls outside the image are masked to zero (and never read).
struct Im2colPanel {
  int runs, run_len;               // 1 x 16, 2 x 8 or 4 x 4
  int64_t run_base[4];             // offset of the run's first pixel, channel 0
  int32_t shift[9];                // flat shift of each tap
  alignas(32) int32_t mask[9][16];  // -1 where the tap reads inside the image
};

// Fills `panel` for pixels [n0, n0 + 16); false when the layout does not fit.
bool make_im2col_panel(Im2colPanel& panel, const Taps& taps, int64_t n0, int64_t HW, int H, int W,
                       int64_t sample_stride) {
  const int64_t p0 = n0 % HW;
  if (HW % kGemmNR == 0) {
    panel.runs = 1;
    panel.run_len = kGemmNR;
  } else if ((HW == 8 || HW == 4) && p0 == 0) {
    panel.runs = static_cast<int>(kGemmNR / HW);
    panel.run_len = static_cast<int>(HW);
  } else {
    return false;
  }
  for (int r = 0; r < panel.runs; ++r) {
    const int64_t q = n0 + r * panel.run_len;
    panel.run_base[r] = (q / HW) * sample_stride + q % HW;
  }
  for (int t = 0; t < taps.count; ++t) {
    panel.shift[t] = taps.dh[t] * W + taps.dw[t];
    for (int j = 0; j < kGemmNR; ++j) {
      const int64_t p = (n0 + j) % HW;
      const int hs = static_cast<int>(p / W) + taps.dh[t], ws = static_cast<int>(p % W) + taps.dw[t];
      panel.mask[t][j] = (hs >= 0 && hs < H && ws >= 0 && ws < W) ? -1 : 0;
    }
  }
  return true;
}

#ifdef DDPM_X86
// dst[i * 16 + j] = X~[k0 + i][panel pixel j] (see Im2colPanel).
// One K row (channel c, tap t) of the panel.
__attribute__((target("avx2,fma"), always_inline)) inline void im2col_row_avx2(
    float* d, const float* x, const Im2colPanel& panel, int64_t HW, int64_t c, int t) {
  const float* plane = x + c * HW + panel.shift[t];
  const int32_t* m = panel.mask[t];
  if (panel.run_len == 16) {
    const float* src = plane + panel.run_base[0];
    _mm256_storeu_ps(d, _mm256_maskload_ps(src, _mm256_load_si256(reinterpret_cast<const __m256i*>(m))));
    _mm256_storeu_ps(d + 8, _mm256_maskload_ps(src + 8, _mm256_load_si256(reinterpret_cast<const __m256i*>(m + 8))));
  } else if (panel.run_len == 8) {
    for (int r = 0; r < 2; ++r)
      _mm256_storeu_ps(d + 8 * r, _mm256_maskload_ps(plane + panel.run_base[r],
                                                     _mm256_load_si256(reinterpret_cast<const __m256i*>(m + 8 * r))));
  } else {
    for (int r = 0; r < 4; ++r)
      _mm_storeu_ps(d + 4 * r, _mm_maskload_ps(plane + panel.run_base[r],
                                               _mm_loadu_si128(reinterpret_cast<const __m128i*>(m + 4 * r))));
  }
}

// dst[i * 16 + j] = X~[k0 + i][panel pixel j] (see Im2colPanel). The common
// case, whole channels of a 3x3 kernel over one 16-pixel run, is a loop of
// nine masked row copies with everything but the channel base fixed.
// `ahead`: how many panels the engine packs before the microkernels run on
// them (one, or two where the kernel takes column panels in pairs): the
// panel after those is the one to prefetch for.
__attribute__((target("avx2,fma"))) void pack_im2col_panel_avx2(
    float* dst, const float* x, const Im2colPanel& panel, int T, int64_t HW, int64_t k0, int kc, int ahead) {
  const int64_t prefetch_offset = static_cast<int64_t>(ahead) * kGemmNR;
  int64_t c = k0 / T;
  int t = static_cast<int>(k0 % T);
  int i = 0;
  if (T == 9 && panel.run_len == 16) {
    for (; i < kc && t != 0; ++i) {  // finish the channel the block starts in
      im2col_row_avx2(dst + i * kGemmNR, x, panel, HW, c, t);
      if (++t == T) {
        t = 0;
        ++c;
      }
    }
    for (; i + 9 <= kc; i += 9, ++c) {
      const float* base = x + c * HW + panel.run_base[0];
      float* d = dst + i * kGemmNR;
      for (int tt = 0; tt < 9; ++tt) {
        const float* src = base + panel.shift[tt];
        const __m256i* m = reinterpret_cast<const __m256i*>(panel.mask[tt]);
        _mm256_storeu_ps(d + tt * kGemmNR, _mm256_maskload_ps(src, _mm256_load_si256(m)));
        _mm256_storeu_ps(d + tt * kGemmNR + 8, _mm256_maskload_ps(src + 8, _mm256_load_si256(m + 1)));
        // The panel `ahead` panels on reads the 64 bytes `ahead` * 16 pixels
        // on in these rows (or in the next image rows): fetch them into L2
        // now, while this panel's microkernels run. Its rows are a channel
        // plane apart, a stride no hardware prefetcher follows. (Taps 1, 4,
        // 7: dw = 0.)
        if (tt % 3 == 1) _mm_prefetch(reinterpret_cast<const char*>(src + prefetch_offset), _MM_HINT_T1);
      }
    }
  }
  for (; i < kc; ++i) {
    im2col_row_avx2(dst + i * kGemmNR, x, panel, HW, c, t);
    if (++t == T) {
      t = 0;
      ++c;
    }
  }
}

// ConvProblem::pack_a's adjoint block: a whole input channel c of a full
// panel, A[r][(c, tt)] = block[r * 9 + 8 - tt] for six rows and nine taps
// (54 consecutive floats, transposed with the taps flipped). Output vector v
// takes lane l from block[source(16 v + l)]: two two-source permutes of the
// block's four vectors, blended.
struct AdjointPermutation {
  alignas(64) int32_t index[4][16];  // source & 31
  uint16_t high[4];                  // lanes whose source lies in block[32, 64)
};

constexpr AdjointPermutation make_adjoint_permutation() {
  AdjointPermutation p{};
  for (int v = 0; v < 4; ++v)
    for (int lane = 0; lane < 16; ++lane) {
      const int i = 16 * v + lane, tt = i / 6, r = i % 6;
      const int source = i < 54 ? r * 9 + 8 - tt : 0;
      p.index[v][lane] = source & 31;
      if (source >= 32) p.high[v] = static_cast<uint16_t>(p.high[v] | (1u << lane));
    }
  return p;
}

constexpr AdjointPermutation kAdjointPermutation = make_adjoint_permutation();

__attribute__((target(DDPM_AVX512))) void pack_adjoint_block_avx512(float* dst, const float* block) {
  const __m512 z0 = _mm512_loadu_ps(block), z1 = _mm512_loadu_ps(block + 16);
  const __m512 z2 = _mm512_loadu_ps(block + 32), z3 = _mm512_maskz_loadu_ps(0x003F, block + 48);
  for (int v = 0; v < 4; ++v) {
    const __m512i ix = _mm512_load_si512(kAdjointPermutation.index[v]);
    const __m512 out = _mm512_mask_blend_ps(kAdjointPermutation.high[v], _mm512_permutex2var_ps(z0, ix, z1),
                                            _mm512_permutex2var_ps(z2, ix, z3));
    if (v < 3)
      _mm512_storeu_ps(dst + 16 * v, out);
    else
      _mm512_mask_storeu_ps(dst + 48, 0x003F, out);
  }
}

// One run of filter-gradient panel pixels along an image row, from pixel q =
// (n, h, w0) on, at most `left` of them (returned): row[j] is column j's source
// row for them, shifted by its tap's dw, or the zero row in the vertical
// padding. Shared by the float32 and bf16 packers.
inline int filter_panel_run(const float* x, const int64_t* plane, const int* dh, const int* dw, int64_t sample_stride,
                            int64_t HW, int H, int W, int64_t q, int left, const float* zeros, const float** row,
                            int64_t& w0) {
  const int64_t n = q / HW, p = q % HW, h = p / W;
  w0 = p % W;
  const float* sample = x + n * sample_stride;
  for (int j = 0; j < kGemmNR; ++j) {
    const int64_t hs = h + dh[j];
    row[j] = ((hs >= 0 && hs < H) ? sample + plane[j] + hs * W : zeros + 1) + dw[j];
  }
  return static_cast<int>(std::min<int64_t>(left, W - w0));
}

// Filter-gradient B panel for W % 8 == 0 or W == 4 (with HW % 8 == 0), and
// k0 % 8 == 0, kc % 8 == 0:
// dst[i * 16 + j] = X[n][ci_j][h + dh_j][w + dw_j] for pixel k0 + i = (n, h, w).
// Eight pixels at a time (eight of one image row, or two rows of four): for
// each of 8 columns j the shifted row segment(s), masked at the image edge,
// then an 8x8 transpose. `zeros` holds at least W + 2 zero floats: rows in
// the vertical padding read it instead of branching.
__attribute__((target("avx2,fma"))) void pack_filter_panel_avx2(
    float* dst, const float* x, const int64_t* plane, const int* dh, const int* dw, int64_t sample_stride,
    int64_t HW, int H, int W, int64_t k0, int kc, const float* zeros) {
  constexpr int NR = kGemmNR;
  const __m256i all = _mm256_set1_epi32(-1);
  const __m256i left = _mm256_setr_epi32(0, -1, -1, -1, -1, -1, -1, -1);   // reads w = -1
  const __m256i right = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, -1, 0);  // reads w = W
  if (W == 4) {
    const __m128i left4 = _mm_setr_epi32(0, -1, -1, -1), right4 = _mm_setr_epi32(-1, -1, -1, 0);
    const __m128i all4 = _mm_set1_epi32(-1);
    for (int i = 0; i < kc; i += 8) {  // rows h and h + 1 of one sample
      const int64_t q = k0 + i, n = q / HW, h = (q % HW) / W;
      const float* sample = x + n * sample_stride;
      for (int half = 0; half < 2; ++half) {
        __m256 v[8];
        for (int jj = 0; jj < 8; ++jj) {
          const int j = half * 8 + jj;
          const int64_t hs = h + dh[j];
          const __m128i mask = dw[j] < 0 ? left4 : dw[j] > 0 ? right4 : all4;
          const float* src = sample + plane[j] + hs * W + dw[j];
          const __m128 lo = (hs >= 0 && hs < H) ? _mm_maskload_ps(src, mask) : _mm_setzero_ps();
          const __m128 hi = (hs + 1 >= 0 && hs + 1 < H) ? _mm_maskload_ps(src + W, mask) : _mm_setzero_ps();
          v[jj] = _mm256_set_m128(hi, lo);
        }
        transpose8x8(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
        float* d = dst + static_cast<int64_t>(i) * NR + half * 8;
        for (int r = 0; r < 8; ++r) _mm256_storeu_ps(d + r * NR, v[r]);
      }
    }
    return;
  }
  int i = 0;
  while (i < kc) {
    // A run of pixels along one image row, then 8 pixels at a time.
    const float* row[NR];
    int64_t w0;
    const int run = filter_panel_run(x, plane, dh, dw, sample_stride, HW, H, W, k0 + i, kc - i, zeros, row, w0);
    for (int r0 = 0; r0 < run; r0 += 8) {
      const int64_t w = w0 + r0;
      // Per shift dw = -1, 0, +1: the lanes inside the image.
      const __m256i mask_by_dw[3] = {w == 0 ? left : all, all, w + 8 == W ? right : all};
      for (int half = 0; half < 2; ++half) {
        __m256 v[8];
        for (int jj = 0; jj < 8; ++jj) {
          const int j = half * 8 + jj;
          v[jj] = _mm256_maskload_ps(row[j] + w, mask_by_dw[dw[j] + 1]);
        }
        transpose8x8(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
        float* d = dst + static_cast<int64_t>(i + r0) * NR + half * 8;
        for (int r = 0; r < 8; ++r) _mm256_storeu_ps(d + r * NR, v[r]);
      }
    }
    i += run;
  }
}
#endif

// pack_filter_panel_avx2's panel as a bf16 pair panel, for W % 16 == 0 and
// k0 % 16 == 0, kc % 16 == 0: sixteen pixels (eight pairs) of one image row
// at a time. Each column's sixteen pixels round to eight dwords, one per
// pixel pair, the pair layout's unit; two 8x8 dword transposes (columns 0-7,
// 8-15) turn them into the eight pair rows.
__attribute__((target(DDPM_AVX512_BF16))) void pack_filter_panel_bf16_avx512(
    uint16_t* dst, const float* x, const int64_t* plane, const int* dh, const int* dw, int64_t sample_stride,
    int64_t HW, int H, int W, int64_t k0, int kc, const float* zeros) {
  constexpr int NR = kGemmNR;
  const __m256i all = _mm256_set1_epi32(-1);
  const __m256i left = _mm256_setr_epi32(0, -1, -1, -1, -1, -1, -1, -1);   // reads w = -1
  const __m256i right = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, -1, 0);  // reads w = W
  int i = 0;
  while (i < kc) {
    const float* row[NR];
    int64_t w0;
    const int run = filter_panel_run(x, plane, dh, dw, sample_stride, HW, H, W, k0 + i, kc - i, zeros, row, w0);
    for (int r0 = 0; r0 < run; r0 += 16) {
      const int64_t w = w0 + r0;
      // Per shift dw = -1, 0, +1: the lanes inside the image, of pixels w..w+7 and w+8..w+15.
      const __m256i mask_lo[3] = {w == 0 ? left : all, all, all};
      const __m256i mask_hi[3] = {all, all, w + 16 == W ? right : all};
      __m256 v[NR];
      for (int j = 0; j < NR; ++j) {
        const __m256 lo = _mm256_maskload_ps(row[j] + w, mask_lo[dw[j] + 1]);
        const __m256 hi = _mm256_maskload_ps(row[j] + w + 8, mask_hi[dw[j] + 1]);
        v[j] = (__m256)_mm256_cvtne2ps_pbh(hi, lo);  // dword t: pixels 2t, 2t + 1
      }
      transpose8x8(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
      transpose8x8(v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]);
      uint16_t* d = dst + static_cast<int64_t>(i + r0) * NR;  // pair (i + r0) / 2
      for (int t = 0; t < 8; ++t) {
        _mm256_storeu_ps(reinterpret_cast<float*>(d + t * 2 * NR), v[t]);
        _mm256_storeu_ps(reinterpret_cast<float*>(d + t * 2 * NR + NR), v[8 + t]);
      }
    }
    i += run;
  }
}

// Y (N, Co, H, W) = conv(X (N, Ci, H, W)): M = Co, N = N*H*W, K = Ci*k*k.
// The weights are read either as they are stored for the forward
// (w[co][ci][t]) or, for backward-data, transposed and flipped from the
// forward weights of the adjoint conv (w[ci][co][T-1-t], the forward layout
// with Ci and Co swapped).
class ConvProblem final : public GemmProblemInto<NchwMatrix> {
 public:
  ConvProblem(const float* x, const float* w, bool adjoint_weights, const float* bias, float* y,
              int N, int Ci, int H, int W, int Co, int k)
      : GemmProblemInto<NchwMatrix>(NchwMatrix{y, Co, static_cast<int64_t>(H) * W}),
        x_(x), w_(w), adjoint_(adjoint_weights), taps_(k),
        Ci_(Ci), H_(H), W_(W), Co_(Co), HW_(static_cast<int64_t>(H) * W), isa_(gemm_isa()) {
    M = Co;
    this->N = static_cast<int64_t>(N) * HW_;
    K = static_cast<int64_t>(Ci) * taps_.count;
    row_bias = bias;
  }

  // Each finished tile goes through the epilogue (nullptr: none), in runs of
  // pixels of one sample.
  void set_epilogue(const ChannelEpilogue* epilogue) { epilogue_ = epilogue; }
  void finish_tile(float* tile, int64_t ldc, int64_t m0, int rows, int64_t n0, int cols) const override {
    if (!epilogue_) return;
    for (int j = 0; j < cols;) {
      const int64_t q = n0 + j, n = q / HW_;
      const int run = static_cast<int>(std::min<int64_t>(cols - j, HW_ - q % HW_));
      epilogue_->apply(tile + j, ldc, rows, run, n, m0);
      j += run;
    }
  }

  void pack_a(float* dst, int64_t m0, int rows, int64_t k0, int kc) const override {
    constexpr int MR = kGemmMR;
    if (!adjoint_) {
      gemm_pack_a_rows(dst, w_ + m0 * K + k0, K, rows, kc);
      return;
    }
    // A[m][(c, t)] = w[c][m][T-1-t]  (w stored as (Ci, Co, T) of the adjoint):
    // for a full panel, the six rows of one c are 6*T consecutive floats.
    if (rows < MR) std::fill(dst, dst + static_cast<int64_t>(kc) * MR, 0.0f);
    const int T = taps_.count;
    int64_t c = k0 / T;
    int t = static_cast<int>(k0 % T);
    int i = 0;
    while (i < kc) {
      const float* block = w_ + (c * Co_ + m0) * T;
      if (rows == MR && T == 9 && t == 0 && i + 9 <= kc) {
        // A whole c: a 6 x 9 block, transposed with the taps flipped
        // (constant indices, so the portable loop unrolls into plain moves).
        float* d = dst + i * MR;
#ifdef DDPM_X86
        if (isa_ == GemmIsa::kAvx512) {
          pack_adjoint_block_avx512(d, block);
        } else
#endif
        {
          for (int tt = 0; tt < 9; ++tt)
            for (int r = 0; r < MR; ++r) d[tt * MR + r] = block[r * 9 + (8 - tt)];
        }
        i += 9;
        ++c;
        continue;
      }
      const float* src = block + (T - 1 - t);
      for (int r = 0; r < rows; ++r) dst[i * MR + r] = src[r * T];
      ++i;
      if (++t == T) {
        t = 0;
        ++c;
      }
    }
  }

  // The forward weights are plain rows; the adjoint's are packed as float32
  // and rounded (GemmProblem's default).
  void pack_a_bf16(uint16_t* dst, int64_t m0, int rows, int64_t k0, int kc) const override {
    if (adjoint_) {
      GemmProblem::pack_a_bf16(dst, m0, rows, k0, kc);
      return;
    }
    gemm_pack_a_rows_bf16(dst, w_ + m0 * K + k0, K, rows, kc);
  }

  void pack_b(float* dst, int64_t k0, int kc, int64_t n0, int cols) const override {
    constexpr int NR = kGemmNR;
#ifdef DDPM_X86
    Im2colPanel panel;
    if (isa_ >= GemmIsa::kAvx2 && cols == NR && make_im2col_panel(panel, taps_, n0, HW_, H_, W_, Ci_ * HW_)) {
      pack_im2col_panel_avx2(dst, x_, panel, taps_.count, HW_, k0, kc, gemm_panels_per_kernel_call());
      return;
    }
#endif
    const int64_t p0 = n0 % HW_;
    if (cols == NR && p0 % W_ + NR <= W_) {
      pack_b_one_row(dst, k0, kc, n0 / HW_, p0 / W_, static_cast<int>(p0 % W_));
      return;
    }
    // General panel (small images, panels crossing rows or samples): per tap,
    // the offset of each column's source pixel from its (sample, channel 0)
    // plane, or -1 where the tap falls in the zero padding.
    const int T = taps_.count;
    int64_t sample_base[NR];
    int32_t offset[9][NR];
    for (int j = 0; j < NR; ++j) {
      if (j >= cols) {
        sample_base[j] = 0;
        for (int t = 0; t < T; ++t) offset[t][j] = -1;
        continue;
      }
      const int64_t q = n0 + j, n = q / HW_, p = q % HW_;
      const int h = static_cast<int>(p / W_), w = static_cast<int>(p % W_);
      sample_base[j] = n * Ci_ * HW_;
      for (int t = 0; t < T; ++t) {
        const int hs = h + taps_.dh[t], ws = w + taps_.dw[t];
        offset[t][j] = (hs >= 0 && hs < H_ && ws >= 0 && ws < W_) ? hs * W_ + ws : -1;
      }
    }
    int64_t c = k0 / T;
    int t = static_cast<int>(k0 % T);
    for (int i = 0; i < kc; ++i) {
      float* d = dst + i * NR;
      const float* plane = x_ + c * HW_;
      for (int j = 0; j < NR; ++j) {
        const int32_t o = offset[t][j];
        d[j] = o >= 0 ? plane[sample_base[j] + o] : 0.0f;
      }
      if (++t == T) {
        t = 0;
        ++c;
      }
    }
  }


 private:
  // The fast panel: 16 pixels of one image row (h, w0..w0+15) of sample n.
  // Each K row is a shifted copy of an input row with at most one padded
  // element at either end.
  void pack_b_one_row(float* dst, int64_t k0, int kc, int64_t n, int64_t h, int w0) const {
    constexpr int NR = kGemmNR;
    const int T = taps_.count;
    const float* sample = x_ + n * Ci_ * HW_;
    int64_t c = k0 / T;
    int t = static_cast<int>(k0 % T);
    for (int i = 0; i < kc; ++i) {
      float* d = dst + i * NR;
      const int64_t hs = h + taps_.dh[t];
      const int dw = taps_.dw[t];
      if (hs < 0 || hs >= H_) {
        for (int j = 0; j < NR; ++j) d[j] = 0.0f;
      } else {
        const float* src = sample + c * HW_ + hs * W_ + w0 + dw;
        if (w0 + dw >= 0 && w0 + dw + NR <= W_) {
          for (int j = 0; j < NR; ++j) d[j] = src[j];
        } else if (dw < 0) {  // w0 == 0: the first column reads the left padding
          d[0] = 0.0f;
          for (int j = 1; j < NR; ++j) d[j] = src[j];
        } else {  // w0 + 16 == W: the last column reads the right padding
          for (int j = 0; j < NR - 1; ++j) d[j] = src[j];
          d[NR - 1] = 0.0f;
        }
      }
      if (++t == T) {
        t = 0;
        ++c;
      }
    }
  }

  const float* x_;
  const float* w_;
  bool adjoint_;
  const ChannelEpilogue* epilogue_ = nullptr;
  Taps taps_;
  int Ci_, H_, W_, Co_;
  int64_t HW_;
  GemmIsa isa_;
};

// dW (Co, Ci, k, k) = sum over pixels of dY x im2col(X): M = Co, N = Ci*k*k,
// K = N*H*W.
class ConvFilterGradProblem final : public GemmProblemInto<RowMajorMatrix> {
 public:
  ConvFilterGradProblem(const float* x, const float* dy, float* dw, int N, int Ci, int H, int W,
                        int Co, int k)
      : GemmProblemInto<RowMajorMatrix>(RowMajorMatrix{dw, static_cast<int64_t>(Ci) * k * k}),
        x_(x), dy_(dy), taps_(k), Ci_(Ci), H_(H),
        W_(W), Co_(Co), HW_(static_cast<int64_t>(H) * W), avx2_(gemm_use_avx2()) {
    M = Co;
    this->N = static_cast<int64_t>(Ci) * taps_.count;
    K = static_cast<int64_t>(N) * HW_;
  }

  void pack_a(float* dst, int64_t m0, int rows, int64_t k0, int kc) const override {
    pack_channels_by_pixel(dst, dy_, Co_, HW_, m0, rows, k0, kc);
  }

  void pack_a_bf16(uint16_t* dst, int64_t m0, int rows, int64_t k0, int kc) const override {
    pack_channels_by_pixel_bf16(*this, dst, dy_, Co_, HW_, m0, rows, k0, kc);
  }

  void pack_b_bf16(uint16_t* dst, int64_t k0, int kc, int64_t n0, int cols) const override {
#ifdef DDPM_X86
    if (gemm_bf16_native() && cols == kGemmNR && W_ % 16 == 0 && k0 % 16 == 0 && kc % 16 == 0) {
      const Columns col(taps_, HW_, n0, cols);
      pack_filter_panel_bf16_avx512(dst, x_, col.plane, col.dh, col.dw, Ci_ * HW_, HW_, H_, W_, k0, kc,
                                    zero_row(W_));
      return;
    }
#endif
    GemmProblem::pack_b_bf16(dst, k0, kc, n0, cols);
  }

  // dst[i * NR + j] = X[n][ci_j][h + dh_j][w + dw_j] for pixel k0 + i = (n, h, w)
  // and column n0 + j = (ci_j, tap_j).
  void pack_b(float* dst, int64_t k0, int kc, int64_t n0, int cols) const override {
    constexpr int NR = kGemmNR;
    const Columns col(taps_, HW_, n0, cols);
    const int64_t* plane = col.plane;
    const int* dh = col.dh;
    const int* dw = col.dw;
    const int* tap = col.tap;
#ifdef DDPM_X86
    if (avx2_ && cols == NR && (W_ % 8 == 0 || (W_ == 4 && HW_ % 8 == 0)) && k0 % 8 == 0 && kc % 8 == 0) {
      pack_filter_panel_avx2(dst, x_, plane, dh, dw, Ci_ * HW_, HW_, H_, W_, k0, kc, zero_row(W_));
      return;
    }
#endif
    if (HW_ <= kSmallImage) {
      pack_b_small_image(dst, k0, kc, cols, plane, tap);
      return;
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


 private:
  // The B columns n0 + j = (ci_j, tap_j), j < cols, of a panel: each one's
  // channel plane offset, tap and tap shift.
  struct Columns {
    int64_t plane[kGemmNR];
    int dh[kGemmNR], dw[kGemmNR], tap[kGemmNR];
    Columns(const Taps& taps, int64_t HW, int64_t n0, int cols) {
      int64_t ci = n0 / taps.count;
      int t = static_cast<int>(n0 % taps.count);
      for (int j = 0; j < cols; ++j) {
        plane[j] = ci * HW;
        tap[j] = t;
        dh[j] = taps.dh[t];
        dw[j] = taps.dw[t];
        if (++t == taps.count) {
          t = 0;
          ++ci;
        }
      }
    }
  };

  // At least W + 2 zero floats, the rows the AVX paths read in the vertical
  // padding (per thread).
  static const float* zero_row(int W) {
    thread_local std::vector<float> zeros;
    if (zeros.size() < static_cast<size_t>(W) + 16) zeros.assign(W + 16, 0.0f);
    return zeros.data();
  }

  // Images of at most this many pixels pack through a (pixel, tap) table.
  static constexpr int64_t kSmallImage = 256;

  // Small images (rows of a few pixels): per pixel position p and tap t, the
  // plane offset of the source pixel or -1 in the padding; then every packed
  // element is one table lookup.
  void pack_b_small_image(float* dst, int64_t k0, int kc, int cols, const int64_t* plane,
                          const int* tap) const {
    constexpr int NR = kGemmNR;
    int32_t offset[9 * kSmallImage];
    const int T = taps_.count;
    for (int64_t p = 0; p < HW_; ++p)
      for (int t = 0; t < T; ++t) {
        const int64_t hs = p / W_ + taps_.dh[t], ws = p % W_ + taps_.dw[t];
        offset[p * T + t] = (hs >= 0 && hs < H_ && ws >= 0 && ws < W_) ? static_cast<int32_t>(hs * W_ + ws) : -1;
      }
    int64_t n = k0 / HW_, p = k0 % HW_;
    for (int i = 0; i < kc; ++i) {
      const float* sample = x_ + n * Ci_ * HW_;
      const int32_t* off = offset + p * T;
      float* d = dst + static_cast<int64_t>(i) * NR;
      for (int j = 0; j < cols; ++j) {
        const int32_t o = off[tap[j]];
        d[j] = o >= 0 ? sample[plane[j] + o] : 0.0f;
      }
      for (int j = cols; j < NR; ++j) d[j] = 0.0f;
      if (++p == HW_) {
        p = 0;
        ++n;
      }
    }
  }

  const float* x_;
  const float* dy_;
  Taps taps_;
  int Ci_, H_, W_, Co_;
  int64_t HW_;
  bool avx2_;
};

}  // namespace

void conv2d_forward(ThreadPool& pool, ConvMath math, const float* x, const float* w, const float* b,
                    float* y, int N, int Cin, int H, int W, int Cout, int k) {
  check_kernel_size("conv2d_forward", k);
  check_sizes("conv2d_forward", N, Cin, H, W, Cout);
  if (k == 3 && conv3x3_small_cin_forward(pool, math, x, w, b, y, N, Cin, H, W, Cout)) return;
  if (k == 3 && conv3x3_forward_by_taps(pool, math, x, w, /*adjoint_weights=*/false, b, y, N, Cin, H, W, Cout)) return;
  if (k == 1 && conv1x1_narrow_forward(pool, math, x, w, b, y, N, Cin, static_cast<int64_t>(H) * W, Cout)) return;
  ConvProblem problem(x, w, /*adjoint_weights=*/false, b, y, N, Cin, H, W, Cout, k);
  run_conv_gemm(pool, math, problem);
}

void conv2d_batchnorm_relu_eval(ThreadPool& pool, ConvMath math, const float* x, const float* w, const float* b,
                                const float* gamma, const float* beta, const float* running_mean,
                                const float* running_var, const float* add, float* y, int N, int Cin, int H, int W,
                                int Cout, int k, float eps) {
  check_kernel_size("conv2d_batchnorm_relu_eval", k);
  check_sizes("conv2d_batchnorm_relu_eval", N, Cin, H, W, Cout);
  ChannelEpilogue epilogue{std::vector<float>(Cout), std::vector<float>(Cout), add, Cout, static_cast<int64_t>(H) * W};
  batchnorm_eval_affine(gamma, beta, running_mean, running_var, eps, Cout, epilogue.scale.data(), epilogue.shift.data());
  if (k == 3 && conv3x3_small_cin_forward(pool, math, x, w, b, y, N, Cin, H, W, Cout, &epilogue)) return;
  if (k == 3 && conv3x3_forward_by_taps(pool, math, x, w, /*adjoint_weights=*/false, b, y, N, Cin, H, W, Cout, &epilogue))
    return;
  if (k == 1 && conv1x1_narrow_forward(pool, math, x, w, b, y, N, Cin, epilogue.HW, Cout)) {
    // Its output layer shapes (at most 8 channels) are not worth fusing: one pass after.
    pool.parallel_for(static_cast<int64_t>(N) * Cout, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) epilogue.apply(y + p * epilogue.HW, 0, 1, epilogue.HW, p / Cout, p % Cout);
    });
    return;
  }
  ConvProblem problem(x, w, /*adjoint_weights=*/false, b, y, N, Cin, H, W, Cout, k);
  problem.set_epilogue(&epilogue);
  run_conv_gemm(pool, math, problem);
}

void conv2d_backward(ThreadPool& pool, ConvMath math, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db, int N, int Cin, int H, int W, int Cout, int k) {
  check_kernel_size("conv2d_backward", k);
  check_sizes("conv2d_backward", N, Cin, H, W, Cout);
  if (db) channel_sums(pool, dy, db, N, Cout, static_cast<int64_t>(H) * W);
  if (k == 3 && conv3x3_small_cin_backward(pool, math, x, w, dy, dx, dw, N, Cin, H, W, Cout)) return;
  if (k == 1 && conv1x1_narrow_backward(pool, math, x, w, dy, dx, dw, N, Cin, static_cast<int64_t>(H) * W, Cout)) return;
  if (k != 3 || !conv3x3_filter_grad_by_taps(pool, math, x, dy, dw, N, Cin, H, W, Cout)) {
    ConvFilterGradProblem filter(x, dy, dw, N, Cin, H, W, Cout, k);
    run_conv_gemm(pool, math, filter);
  }
  if (!dx) return;
  if (k == 3 && conv3x3_forward_by_taps(pool, math, dy, w, /*adjoint_weights=*/true, nullptr, dx, N, Cout, H, W, Cin)) return;
  ConvProblem data(dy, w, /*adjoint_weights=*/true, nullptr, dx, N, Cout, H, W, Cin, k);
  run_conv_gemm(pool, math, data);
}

}  // namespace cpu
}  // namespace ddpm
