// 3x3 pad-1 convolutions by taps: nine GEMMs over one zero-padded copy of
// the input, each tap's shifted input being that copy read at an offset,
// instead of one GEMM over im2col(X), whose panels repeat every input value
// nine times. Two families: the filter gradient (float32 and bf16, here),
// and the bf16 forward and data gradient (below).
//
// The filter gradient:
//
//   dW[co][ci][t] = sum_q dYp[co][q] * Xp[ci][q + s_t],   s_t = dh_t * Wp + dw_t
//
// over a padded pixel index q in which every image row has one zero column
// after it (Wp = W + 1) and every image one zero row after it (the next
// image's top padding too), with a zero row and one zero element before the
// first image. In that layout a tap's shifted input is the same array read
// s_t elements on, zeros wherever the tap falls in the padding, so the B
// panels of all nine taps are one packed copy read at nine offsets (two
// copies for bf16, whose panels hold pairs of consecutive pixels: one paired
// from an even pixel, one from an odd).
//
// Why: im2col's B operand repeats each input value nine times, and packing
// it costs about as much as the products when Cout is small (the tiny
// preset's 16 and 32): the im2col filter gradient measured 176-267 GFLOP/s
// in bf16 on Zen 5 against 245-506 for the data gradient of the same
// shapes. Here each input value is packed about 1.2 times (float32) or 2.4
// (bf16) and each dY value once, for (H+1)(W+1) / HW more products (the zero
// row and column).
//
// K blocks are whole padded rows. They are summed in at most 16 groups,
// each by one thread that packs a block's panels and runs every tile on
// them while they are in its core's caches (row panel, tap, column panel;
// two tiles per microkernel call, two taps of one panel when there is one
// panel of 16 channels, so that the 6x32 AVX-512 kernel runs full), into its
// group's partial sum; the partials are added in group order. Blocks and
// groups depend on the sizes only, so the result is the same bits whatever
// the thread count. (Threads sharing one packed copy of each block, then
// splitting the tiles, did not scale past one core: each read the other
// core's freshly packed panels.)
#include "conv_taps.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "avx2_transpose.h"
#include "gemm.h"
#include "gemm_kernels.h"
#include "simd.h"

namespace ddpm {
namespace cpu {
namespace {

constexpr int MR = kGemmMR;
constexpr int NR = kGemmNR;
constexpr int kTaps = 9;
// K is summed in this many groups of blocks (at most), each by one thread into a partial sum; the
// partials are added in group order. A function of nothing but this constant and the sizes.
constexpr int64_t kGroups = 16;

struct TapsPlan {
  int Ci, H, W, Co;
  int Wp;             // padded row: W pixels and a zero
  int64_t origin;     // q of padded row 0 (image 0's first row): a zero row and a zero element before it
  int64_t rows;       // padded rows, N (H + 1): each image's and its zero row
  int block_rows;     // padded rows per K block (the last block may hold fewer)
  int64_t blocks;
  int64_t halo;       // pixels packed on either side of a block (even, more than Wp + 1)
  int64_t b_len;      // packed input pixels of a block: its kc and both halos
  int row_panels, col_panels;
  int64_t items, item_pairs;  // per row panel: (tap, column panel) tiles, and pairs of them for the 6x32 kernel
  int64_t a_floats, b_floats;  // per block (bf16 panels use these as twice as many uint16)

  int64_t q_of_row(int64_t g) const { return origin + g * Wp; }
};

TapsPlan make_plan(int N, int Ci, int H, int W, int Co, bool bf16) {
  TapsPlan p{};
  p.Ci = Ci, p.H = H, p.W = W, p.Co = Co;
  p.Wp = W + 1;
  p.origin = p.Wp + 1;
  p.rows = static_cast<int64_t>(N) * (H + 1);
  const int max_kc = bf16 ? 512 : 256;  // the GEMM engine's K blocks (gemm.cpp)
  const int max_rows = std::max(1, max_kc / p.Wp);
  p.blocks = (p.rows + max_rows - 1) / max_rows;
  p.block_rows = static_cast<int>((p.rows + p.blocks - 1) / p.blocks);
  p.halo = (p.Wp + 3) & ~int64_t{1};
  p.b_len = static_cast<int64_t>(p.block_rows) * p.Wp + 2 * p.halo;
  p.row_panels = (Co + MR - 1) / MR;
  p.col_panels = (Ci + NR - 1) / NR;
  p.items = static_cast<int64_t>(kTaps) * p.col_panels;
  p.item_pairs = (p.items + 1) / 2;
  p.a_floats = static_cast<int64_t>(p.row_panels) * MR * (p.block_rows * p.Wp + 2);
  p.b_floats = static_cast<int64_t>(p.col_panels) * NR * (p.b_len + 2);
  return p;
}

#ifdef DDPM_X86
// d[i * NR + j] = src[j * HW + i] for i < run rounded down to 8 (returned), j < cols (0 beyond):
// eight pixels of sixteen channels at a time, two 8x8 transposes.
__attribute__((target("avx2,fma"))) int64_t pack_input_run_avx2(float* d, const float* src, int64_t HW, int cols,
                                                                 int64_t run) {
  int64_t i = 0;
  for (; i + 8 <= run; i += 8) {
    for (int half = 0; half < 2; ++half) {
      __m256 v[8];
      for (int jj = 0; jj < 8; ++jj) {
        const int j = half * 8 + jj;
        v[jj] = j < cols ? _mm256_loadu_ps(src + j * HW + i) : _mm256_setzero_ps();
      }
      transpose8x8(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
      for (int r = 0; r < 8; ++r) _mm256_storeu_ps(d + (i + r) * NR + half * 8, v[r]);
    }
  }
  return i;
}
#endif

// dst[i * NR + j] = Xp[ci0 + j][q_begin + i] for q_begin + i < q_end, j < cols (0 beyond): the
// padded input, runs along an image row.
void pack_input(float* dst, const float* x, const TapsPlan& p, int64_t q_begin, int64_t q_end, int ci0, int cols) {
  const int64_t HW = static_cast<int64_t>(p.H) * p.W;
  int64_t q = q_begin;
  while (q < q_end) {
    float* d = dst + (q - q_begin) * NR;
    const int64_t rel = q - p.origin;
    const int64_t g = rel >= 0 ? rel / p.Wp : -1;  // padded row
    const int64_t w = rel >= 0 ? rel % p.Wp : 0;
    const int64_t n = g / (p.H + 1), h = g % (p.H + 1);
    if (rel < 0 || g >= p.rows || h == p.H || w == p.W) {  // padding
      std::fill(d, d + NR, 0.0f);
      ++q;
      continue;
    }
    const int64_t run = std::min<int64_t>(p.W - w, q_end - q);
    const float* src = x + (n * p.Ci + ci0) * HW + h * p.W + w;
    int64_t i = 0;
#ifdef DDPM_X86
    if (gemm_use_avx2()) i = pack_input_run_avx2(d, src, HW, cols, run);
#endif
    for (; i < run; ++i)
      for (int j = 0; j < NR; ++j) d[i * NR + j] = j < cols ? src[j * HW + i] : 0.0f;
    q += run;
  }
}

// dst[i * MR + r] = dYp[co0 + r][q_of_row(g0) + i] for the padded rows [g0, g0 + R), r < rows (0 beyond).
void pack_grad(float* dst, const float* dy, const TapsPlan& p, int64_t g0, int R, int co0, int rows) {
  const int64_t HW = static_cast<int64_t>(p.H) * p.W;
  for (int r = 0; r < R; ++r) {
    float* d = dst + static_cast<int64_t>(r) * p.Wp * MR;
    const int64_t g = g0 + r, n = g / (p.H + 1), h = g % (p.H + 1);
    if (h == p.H) {
      std::fill(d, d + static_cast<int64_t>(p.Wp) * MR, 0.0f);
      continue;
    }
    gemm_pack_a_rows(d, dy + (n * p.Co + co0) * HW + h * p.W, HW, rows, p.W);
    std::fill(d + static_cast<int64_t>(p.W) * MR, d + static_cast<int64_t>(p.Wp) * MR, 0.0f);
  }
}

float* align64(float* f) { return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(f) + 63) & ~uintptr_t{63}); }

// Scratch of one thread: a block's packed panels and float32 panels before rounding to bf16.
std::vector<float>& thread_scratch(size_t floats) {
  thread_local std::vector<float> s;
  if (s.size() < floats) s.resize(floats);
  return s;
}

}  // namespace

bool conv3x3_filter_grad_by_taps(ThreadPool& pool, ConvMath math, const float* x, const float* dy, float* dw, int N,
                                 int Ci, int H, int W, int Co) {
  const bool bf16 = math == ConvMath::kBf16;
  // The shapes where it pays (see the top): rows of whole 8-pixel runs, at least 16 of them (at W = 8
  // it measured 0.8-1.1x of im2col: the zero row and column add 27% products there, and im2col's panels
  // are already shared by more output channels at those levels), and whole 16-channel column panels; the
  // instruction sets whose packers and kernels it uses.
  if (W < 16 || W % 8 != 0 || Ci % NR != 0 || N < 1 || H < 1 || Co < 1) return false;
  if (bf16 ? !gemm_bf16_native() : !gemm_use_avx2()) return false;
  const TapsPlan p = make_plan(N, Ci, H, W, Co, bf16);
  const MicroKernel kernel = gemm_microkernel(gemm_isa(), bf16);
  const int64_t co_pad = static_cast<int64_t>(p.row_panels) * MR, ci_pad = static_cast<int64_t>(p.col_panels) * NR;
  const int64_t tile_floats = (kTaps * co_pad * ci_pad + 15) & ~int64_t{15};  // whole cache lines
  const int64_t groups = std::min<int64_t>(p.blocks, kGroups);
  thread_local std::vector<float> partial_store;
  if (partial_store.size() < static_cast<size_t>(groups * tile_floats + 16)) partial_store.resize(groups * tile_floats + 16);
  float* const partials = align64(partial_store.data());
  const int64_t tasks = p.row_panels * p.item_pairs;

  // Group g: the blocks [g * blocks / groups, (g + 1) * blocks / groups), packed and multiplied by
  // one thread into its own partial sum (its packed panels stay in that core's caches).
  pool.parallel_for(groups, 1, [&](int64_t lo, int64_t hi) {
    std::vector<float>& scratch = thread_scratch(p.a_floats + p.b_floats + static_cast<size_t>(p.b_len + 2) * NR + 32);
    float* const block = align64(scratch.data());
    float* const tmp = block + p.a_floats + p.b_floats;  // float32 panels before rounding to bf16
    for (int64_t g = lo; g < hi; ++g) {
      float* const C = partials + g * tile_floats;
      const int64_t first = g * p.blocks / groups, last = (g + 1) * p.blocks / groups;
      for (int64_t b = first; b < last; ++b) {
        const int64_t g0 = b * p.block_rows;
        const int R = static_cast<int>(std::min<int64_t>(p.block_rows, p.rows - g0));
        const int kc = R * p.Wp;
        // dY: the row panels over the block's rows.
        for (int rp = 0; rp < p.row_panels; ++rp) {
          const int co0 = rp * MR, rows = std::min(MR, p.Co - co0);
          float* dst = block + rp * MR * (p.block_rows * p.Wp + 2);
          if (!bf16) {
            pack_grad(dst, dy, p, g0, R, co0, rows);
          } else {
            pack_grad(tmp, dy, p, g0, R, co0, rows);
            round_panel_bf16(reinterpret_cast<uint16_t*>(dst), tmp, MR, kc);
          }
        }
        // The input: the column panels over the block and its halos (bf16: pairs from even pixels,
        // then pairs from odd ones, the first pixel left out).
        const int64_t q0 = p.q_of_row(g0) - p.halo, len = kc + 2 * p.halo;
        for (int cp = 0; cp < p.col_panels; ++cp) {
          const int ci0 = cp * NR;
          float* dst = block + p.a_floats + cp * NR * (p.b_len + 2);
          if (!bf16) {
            pack_input(dst, x, p, q0, q0 + len, ci0, std::min(NR, p.Ci - ci0));
          } else {
            pack_input(tmp, x, p, q0, q0 + len, ci0, std::min(NR, p.Ci - ci0));
            uint16_t* even = reinterpret_cast<uint16_t*>(dst);
            round_panel_bf16(even, tmp, NR, static_cast<int>(len));
            round_panel_bf16(even + (p.b_len + 2) * NR, tmp + NR, NR, static_cast<int>(len - 1));
          }
        }
        // Every tile: (row panel, pair of items), item u = t * col_panels + cp being tap t of column panel cp.
        for (int64_t task = 0; task < tasks; ++task) {
          const int rp = static_cast<int>(task / p.item_pairs);
          const int64_t u0 = 2 * (task % p.item_pairs);
          const float* a = block + rp * MR * (p.block_rows * p.Wp + 2);
          const void* bp[2] = {nullptr, nullptr};
          float* c[2] = {nullptr, nullptr};
          for (int k = 0; k < 2; ++k) {
            const int64_t u = u0 + k;
            if (u >= p.items) break;
            const int t = static_cast<int>(u / p.col_panels), cp = static_cast<int>(u % p.col_panels);
            const int64_t i0 = p.halo + (t / 3 - 1) * static_cast<int64_t>(p.Wp) + (t % 3 - 1);  // the tap's first pixel
            const float* panel = block + p.a_floats + cp * NR * (p.b_len + 2);
            if (!bf16) {
              bp[k] = panel + i0 * NR;
            } else {
              const uint16_t* even = reinterpret_cast<const uint16_t*>(panel);
              bp[k] = i0 % 2 == 0 ? even + (i0 / 2) * 2 * NR : even + (p.b_len + 2) * NR + ((i0 - 1) / 2) * 2 * NR;
            }
            c[k] = C + (t * co_pad + rp * MR) * ci_pad + cp * NR;
          }
          kernel(kc, a, bp[0], bp[1], c[0], ci_pad, c[1], ci_pad, std::min(MR, p.Co - rp * MR),
                 /*accumulate=*/b > first, nullptr);
        }
      }
    }
  });
  // dW (Co, Ci, 3, 3): the groups' partial sums added in group order.
  pool.parallel_for(Co, 8, [&](int64_t lo, int64_t hi) {
    for (int64_t co = lo; co < hi; ++co)
      for (int t = 0; t < kTaps; ++t) {
        const int64_t at = (t * co_pad + co) * ci_pad;
        for (int ci = 0; ci < Ci; ++ci) {
          float s = partials[at + ci];
          for (int64_t g = 1; g < groups; ++g) s += partials[g * tile_floats + at + ci];
          dw[(co * Ci + ci) * kTaps + t] = s;
        }
      }
  });
  return true;
}

// ---- the forward (and the data gradient, its adjoint), bf16 -----------------------
//
//   Y[co][p] = sum_t sum_ci Wt[co][ci] * Xp[ci][p + s_t]
//
// as one sum over the nine taps' GEMMs (M = Cout, N = pixels, K = Cin per
// tap) whose B rows are read where they lie in a zero-padded bf16 copy of
// the input (gemm_taps_kernel_bf16), instead of im2col panels packed per
// 16 pixels. The copy is laid out by image row: padded row g holds every
// channel pair's row of W pairs and a zero pair, interleaved as the kernel
// reads them, so a 16-pixel panel of an image row, shifted by a tap, is 16
// consecutive pairs of each channel pair in one 3-row window of the copy,
// Wp = W + 1 pairs apart: what one task reads is a few KiB, in order.
// (Channel planes apart, as NCHW, measured slower than im2col: every B row
// on another page; and one kernel call per tap, 1.2-1.9x slower than one
// call summing all nine.) The copy is made once, the weights of each tap
// packed once. Each output sums the taps in order, each over the input
// channel pairs in order, whatever the thread count.

namespace {

#ifdef DDPM_X86
// Channels c and c + 1 (x1 null: zeros) of one image row into pairs: dst[2w + i] = bf16(x_{c+i}[w]).
__attribute__((target(DDPM_AVX512_BF16))) void pair_row_bf16(uint16_t* dst, const float* x0, const float* x1, int W) {
  int w = 0;
  for (; w + 16 <= W; w += 16) {
    const __m512 even = _mm512_loadu_ps(x0 + w), odd = x1 ? _mm512_loadu_ps(x1 + w) : _mm512_setzero_ps();
    _mm512_storeu_si512(dst + 2 * w, bf16_pair_row(even, odd));
  }
  for (; w < W; ++w) {
    dst[2 * w] = float_to_bf16(x0[w]);
    dst[2 * w + 1] = x1 ? float_to_bf16(x1[w]) : 0;
  }
}
#endif

}  // namespace

bool conv3x3_forward_by_taps(ThreadPool& pool, ConvMath math, const float* x, const float* w, bool adjoint_weights,
                             const float* bias, float* y, int N, int Ci, int H, int W, int Co,
                             const ChannelEpilogue* epilogue) {
  // bf16 only: in float32 the nine segments' unaligned B rows measured slower than im2col's packed
  // panels (1.1-1.2x the time on the tiny preset's shapes); in bf16, 1.1-1.6x faster.
  if (math != ConvMath::kBf16 || W % NR != 0 || N < 1 || H < 1 || Ci < 1 || Co < 1) return false;
  const TapsKernel kernel = gemm_taps_kernel_bf16();
  if (!kernel) return false;
#ifdef DDPM_X86
  const int64_t HW = static_cast<int64_t>(H) * W;
  const int Wp = W + 1;
  const int krows = (Ci + 1) / 2;                              // B rows: channel pairs
  const int64_t row_stride = static_cast<int64_t>(krows) * Wp;  // one padded image row, in pairs (4 bytes each)
  const int64_t rows = static_cast<int64_t>(N) * (H + 1);      // padded rows: each image's and its zero row
  const int64_t origin = row_stride + 1;                       // a zero row and a zero value before row 0
  const int64_t total = origin + rows * row_stride + 1;
  thread_local std::vector<float> padded_store, weight_store;
  if (padded_store.size() < static_cast<size_t>(total + 16)) padded_store.resize(total + 16);
  float* const xp = align64(padded_store.data());
  // The copy, a padded row at a time (the leading zeros and the trailing one with the first and last).
  pool.parallel_for(rows, 4, [&](int64_t lo, int64_t hi) {
    for (int64_t g = lo; g < hi; ++g) {
      const int64_t n = g / (H + 1), h = g % (H + 1);
      float* row = xp + origin + g * row_stride;
      if (g == 0) std::fill(xp, xp + origin, 0.0f);
      if (g == rows - 1) std::fill(xp + origin + rows * row_stride, xp + total, 0.0f);
      if (h == H) {
        std::fill(row, row + row_stride, 0.0f);
        continue;
      }
      for (int r = 0; r < krows; ++r) {
        const int c0 = 2 * r;
        const float* x0 = x + (n * Ci + c0) * HW + h * W;
        uint16_t* d = reinterpret_cast<uint16_t*>(row + static_cast<int64_t>(r) * Wp);
        pair_row_bf16(d, x0, c0 + 1 < Ci ? x0 + HW : nullptr, W);
        d[2 * W] = d[2 * W + 1] = 0;
      }
    }
  });
  // The weights as A panels, per row panel the nine taps' panels back to back (each over all input
  // channels): Wt[co][ci] = w[co][ci][t], or for the adjoint w[ci][co][8 - t] (w stored as the forward
  // weights with Ci and Co swapped).
  const int row_panels = (Co + MR - 1) / MR;
  const int64_t tap_floats = static_cast<int64_t>(krows) * MR;  // a tap's bf16 pair panel, in floats
  const int64_t rp_floats = kTaps * tap_floats + 16;
  const size_t weight_floats = static_cast<size_t>(row_panels) * rp_floats + static_cast<size_t>(Co) * Ci + 16;
  if (weight_store.size() < weight_floats) weight_store.resize(weight_floats);
  float* const apanels = align64(weight_store.data());
  float* const wt = apanels + row_panels * rp_floats;  // one tap's [Co][Ci]
  for (int t = 0; t < kTaps; ++t) {
    for (int co = 0; co < Co; ++co)
      for (int ci = 0; ci < Ci; ++ci)
        wt[static_cast<int64_t>(co) * Ci + ci] = adjoint_weights ? w[(static_cast<int64_t>(ci) * Co + co) * kTaps + 8 - t]
                                                                 : w[(static_cast<int64_t>(co) * Ci + ci) * kTaps + t];
    for (int rp = 0; rp < row_panels; ++rp) {
      float* dst = apanels + rp * rp_floats + t * tap_floats;
      const int prows = std::min(MR, Co - rp * MR);
      gemm_pack_a_rows_bf16(reinterpret_cast<uint16_t*>(dst), wt + static_cast<int64_t>(rp) * MR * Ci, Ci, prows, Ci);
    }
  }
  // Tasks: pairs of 16-pixel panels (n, h, w0), in order; each runs every row panel over the nine taps.
  const int64_t per_row = W / NR, panels = static_cast<int64_t>(N) * H * per_row, pairs = (panels + 1) / 2;
  const int64_t ldb = static_cast<int64_t>(Wp) * 4;  // pair row to pair row
  int64_t offsets[kTaps];  // each tap's B rows from the panel's, in bytes
  for (int t = 0; t < kTaps; ++t) offsets[t] = ((t / 3 - 1) * row_stride + (t % 3 - 1)) * 4;
  // An epilogue is applied by the kernel to the sums in registers: the output's rows are HW floats apart,
  // 4 KiB at 32x32, so a tile stored and read back would miss L1 (every row in one cache set).
  pool.parallel_for(pairs, 8, [&](int64_t lo, int64_t hi) {
    for (int64_t pr = lo; pr < hi; ++pr) {
      float* c[2] = {nullptr, nullptr};  // the panels' outputs (channel 0); null: no second panel
      const char* b[2] = {nullptr, nullptr};  // and their B rows in the copy (channel 0, tap (0, 0))
      int64_t sample[2] = {0, 0};
      for (int k = 0; k < 2; ++k) {
        const int64_t panel = 2 * pr + k;
        if (panel >= panels) break;
        const int64_t n = panel / (H * per_row), h = panel / per_row % H, w0 = panel % per_row * NR;
        b[k] = reinterpret_cast<const char*>(xp + origin + (n * (H + 1) + h) * row_stride + w0);
        c[k] = y + n * Co * HW + h * W + w0;
        sample[k] = n;
      }
      for (int rp = 0; rp < row_panels; ++rp) {
        const int co0 = rp * MR, prows = std::min(MR, Co - co0);
        const float* a = apanels + rp * rp_floats;
        float* c1 = c[1] ? c[1] + co0 * HW : nullptr;
        const float* rb = bias ? bias + co0 : nullptr;
        if (!epilogue) {
          kernel(Ci, kTaps, offsets, a, b[0], b[1], ldb, c[0] + co0 * HW, HW, c1, HW, prows, rb, nullptr);
          continue;
        }
        const float* add = epilogue->add;
        const TapsEpilogue e{epilogue->scale.data() + co0, epilogue->shift.data() + co0,
                             add ? add + sample[0] * Co + co0 : nullptr, add && c[1] ? add + sample[1] * Co + co0 : nullptr};
        kernel(Ci, kTaps, offsets, a, b[0], b[1], ldb, c[0] + co0 * HW, HW, c1, HW, prows, rb, &e);
      }
    }
  });
  return true;
#else
  (void)x, (void)w, (void)adjoint_weights, (void)bias, (void)y, (void)pool, (void)epilogue;
  return false;
#endif
}

}  // namespace cpu
}  // namespace ddpm
