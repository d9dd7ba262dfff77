// The backward of a 3x3 convolution with at most four input channels
// (conv_small_cin.h) as direct loops: per sample, the input (filter
// gradient) or dy (data gradient) copied once with a zero border, then each
// output a chain of fused multiply-adds over 16 pixels at a time. The filter
// gradient keeps four output channels' sums in registers over the whole
// image; the data gradient all input channels' sums over every (co, tap).
// The kernels (conv_small_cin_body.inc) are written once and compiled for
// AVX-512 (one zmm per 16 pixels) and AVX2 (two ymm).
#include "conv_small_cin.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "batchnorm_eval.h"
#include "gemm.h"
#include "simd.h"

namespace ddpm {
namespace cpu {

#if defined(DDPM_X86)
namespace {

// The 16 lanes of a register, stored, added in lane order with one rounding
// an add (both ISAs' sum_lanes, so their results are the same bits).
float sum16_in_order(const float* l) {
  float s = l[0];
  for (int i = 1; i < 16; ++i) s += l[i];
  return s;
}

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma")
struct Vec512 {
  __m512 v;
  static Vec512 zero() { return {_mm512_setzero_ps()}; }
  static Vec512 load(const float* p) { return {_mm512_loadu_ps(p)}; }
  static void store(float* p, Vec512 a) { _mm512_storeu_ps(p, a.v); }
  static Vec512 set1(float x) { return {_mm512_set1_ps(x)}; }
  static Vec512 fma(Vec512 a, Vec512 b, Vec512 c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
  static Vec512 add(Vec512 a, Vec512 b) { return {_mm512_add_ps(a.v, b.v)}; }
  static Vec512 bn_relu_add(Vec512 x, float scale, float shift, float a) { return {bn_relu_add16(x.v, scale, shift, a)}; }
  static float sum_lanes(Vec512 a) {
    alignas(64) float l[16];
    _mm512_store_ps(l, a.v);
    return sum16_in_order(l);
  }
};
namespace avx512 {
using V = Vec512;
}
#define DDPM_SMALL_CIN_NS avx512
#include "conv_small_cin_body.inc"
#undef DDPM_SMALL_CIN_NS
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
struct Vec256x2 {  // lanes 0-7 in lo, 8-15 in hi
  __m256 lo, hi;
  static Vec256x2 zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  static Vec256x2 load(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
  static void store(float* p, Vec256x2 a) {
    _mm256_storeu_ps(p, a.lo);
    _mm256_storeu_ps(p + 8, a.hi);
  }
  static Vec256x2 set1(float x) { return {_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
  static Vec256x2 fma(Vec256x2 a, Vec256x2 b, Vec256x2 c) {
    return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
  }
  static Vec256x2 add(Vec256x2 a, Vec256x2 b) { return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
  // scale_shift_relu_add's operations: a fused multiply-add, max with +0 (-0 and NaN to +0), an add.
  static Vec256x2 bn_relu_add(Vec256x2 x, float scale, float shift, float a) {
    const __m256 s = _mm256_set1_ps(scale), t = _mm256_set1_ps(shift), av = _mm256_set1_ps(a), z = _mm256_setzero_ps();
    return {_mm256_add_ps(_mm256_max_ps(_mm256_fmadd_ps(x.lo, s, t), z), av),
            _mm256_add_ps(_mm256_max_ps(_mm256_fmadd_ps(x.hi, s, t), z), av)};
  }
  static float sum_lanes(Vec256x2 a) {
    alignas(32) float l[16];
    _mm256_store_ps(l, a.lo);
    _mm256_store_ps(l + 8, a.hi);
    return sum16_in_order(l);
  }
};
namespace avx2 {
using V = Vec256x2;
}
#define DDPM_SMALL_CIN_NS avx2
#include "conv_small_cin_body.inc"
#undef DDPM_SMALL_CIN_NS
#pragma GCC pop_options

// One sample's channels (C, H, W) into dst (C, H + 2, Wp) with a zero border
// (one row above and below, one column left, the rest of each row right),
// rounded to bf16 when asked.
void pad_planes(const float* src, float* dst, int C, int H, int W, int Wp, bool bf16) {
  std::fill(dst, dst + static_cast<int64_t>(C) * (H + 2) * Wp, 0.0f);
  for (int c = 0; c < C; ++c)
    for (int h = 0; h < H; ++h) {
      const float* s = src + (static_cast<int64_t>(c) * H + h) * W;
      float* d = dst + (static_cast<int64_t>(c) * (H + 2) + h + 1) * Wp + 1;
      if (bf16)
        for (int w = 0; w < W; ++w) d[w] = round_to_bf16(s[w]);
      else
        std::copy(s, s + W, d);
    }
}

}  // namespace
#endif

bool conv3x3_small_cin_forward(ThreadPool& pool, ConvMath math, const float* x, const float* w, const float* b, float* y,
                               int N, int Ci, int H, int W, int Co, const ChannelEpilogue* epilogue) {
#if defined(DDPM_X86)
  const GemmIsa isa = gemm_isa();
  if (Ci < 1 || Ci > kMaxSmallCin || W % 16 != 0 || N < 1 || H < 1 || Co < 1 || isa < GemmIsa::kAvx2) return false;
  const bool z = isa == GemmIsa::kAvx512, bf16 = math == ConvMath::kBf16;
  const int Wp = W + 2 + 16;
  const int64_t HW = static_cast<int64_t>(H) * W;
  std::vector<float> wr(w, w + static_cast<int64_t>(Co) * Ci * 9);
  if (bf16)
    for (float& v : wr) v = round_to_bf16(v);
  pool.parallel_for(N, 1, [&](int64_t n0, int64_t n1) {
    thread_local std::vector<float> padded;
    const size_t pad_floats = static_cast<size_t>(Ci) * (H + 2) * Wp;
    if (padded.size() < pad_floats) padded.resize(pad_floats);
    for (int64_t n = n0; n < n1; ++n) {
      pad_planes(x + n * Ci * HW, padded.data(), Ci, H, W, Wp, bf16);
      float* yn = y + n * Co * HW;
      if (z)
        avx512::forward_sample(padded.data(), wr.data(), b, epilogue, n, yn, Ci, H, W, Wp, Co);
      else
        avx2::forward_sample(padded.data(), wr.data(), b, epilogue, n, yn, Ci, H, W, Wp, Co);
    }
  });
  return true;
#else
  (void)pool, (void)math, (void)x, (void)w, (void)b, (void)y, (void)N, (void)Ci, (void)H, (void)W, (void)Co, (void)epilogue;
  return false;
#endif
}

bool conv3x3_small_cin_backward(ThreadPool& pool, ConvMath math, const float* x, const float* w, const float* dy,
                                float* dx, float* dw, int N, int Ci, int H, int W, int Co) {
#if defined(DDPM_X86)
  const GemmIsa isa = gemm_isa();
  if (Ci < 1 || Ci > kMaxSmallCin || W % 16 != 0 || N < 1 || H < 1 || Co < 1 || isa < GemmIsa::kAvx2) return false;
  const bool z = isa == GemmIsa::kAvx512, bf16 = math == ConvMath::kBf16;
  const int Wp = W + 2 + 16;
  const int64_t HW = static_cast<int64_t>(H) * W, per_tap = static_cast<int64_t>(Co) * Ci * 9;
  std::vector<float> wr(w, w + per_tap);
  if (bf16)
    for (float& v : wr) v = round_to_bf16(v);
  std::vector<float> parts(static_cast<size_t>(N) * per_tap);  // each sample's filter-gradient share
  pool.parallel_for(N, 1, [&](int64_t n0, int64_t n1) {
    // Each worker's scratch, kept between calls: a fresh allocation per
    // sample (over malloc's mmap threshold) cost page faults that serialised
    // the workers.
    thread_local std::vector<float> padded, dyr, lanes;
    const size_t pad_floats = static_cast<size_t>(std::max(Ci, dx ? Co : 0)) * (H + 2) * Wp;
    if (padded.size() < pad_floats) padded.resize(pad_floats);
    if (lanes.size() < static_cast<size_t>(per_tap) * 16) lanes.resize(per_tap * 16);
    if (bf16 && dyr.size() < static_cast<size_t>(Co * HW)) dyr.resize(Co * HW);
    for (int64_t n = n0; n < n1; ++n) {
      const float* dyn = dy + n * Co * HW;
      if (bf16) {
        for (int64_t i = 0; i < Co * HW; ++i) dyr[i] = round_to_bf16(dyn[i]);
        dyn = dyr.data();
      }
      pad_planes(x + n * Ci * HW, padded.data(), Ci, H, W, Wp, bf16);
      float* part = parts.data() + n * per_tap;
      if (z)
        avx512::filter_grad_sample(padded.data(), dyn, part, lanes.data(), Ci, H, W, Wp, Co);
      else
        avx2::filter_grad_sample(padded.data(), dyn, part, lanes.data(), Ci, H, W, Wp, Co);
      if (!dx) continue;
      pad_planes(dyn, padded.data(), Co, H, W, Wp, false);  // already rounded
      if (z)
        avx512::data_grad_sample(padded.data(), wr.data(), dx + n * Ci * HW, Ci, H, W, Wp, Co);
      else
        avx2::data_grad_sample(padded.data(), wr.data(), dx + n * Ci * HW, Ci, H, W, Wp, Co);
    }
  });
  // The samples' shares in sample order, in double.
  for (int64_t i = 0; i < per_tap; ++i) {
    double s = 0.0;
    for (int n = 0; n < N; ++n) s += parts[static_cast<size_t>(n) * per_tap + i];
    dw[i] = static_cast<float>(s);
  }
  return true;
#else
  (void)pool, (void)math, (void)x, (void)w, (void)dy, (void)dx, (void)dw, (void)N, (void)Ci, (void)H, (void)W, (void)Co;
  return false;
#endif
}

}  // namespace cpu
}  // namespace ddpm
