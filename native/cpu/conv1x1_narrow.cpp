// 1x1 convolutions with few output channels (at most kMaxNarrow: the UNet's
// last layer, Cout = the image's 3 channels) as plain loops over pixels
// instead of GEMMs. As GEMMs they have M = 3 (half a 6-row tile), or K = 3
// (the data gradient), or an output of 3 x Cin that one thread sums over
// every pixel (the filter gradient); they ran at 13 GFLOP/s, 1.4 ms of a tiny
// bf16 training step, for a few MB of memory traffic.
//
// Numerics as the GEMM engine's: bf16 rounds the operands (x, w, dy) to
// bfloat16 exactly as its panels do and sums their products in float32; sums
// are fused multiply-adds in a fixed order. Per output: over the input
// channels in order (then + bias), or over the output channels in order;
// the filter gradient sums each block of kChunk pixels in 64 lanes (pixel p
// in lane p % 64), adds the lanes in order, and adds the blocks in order in
// double. None of this depends on the thread count or the vector width, so
// AVX2 and AVX-512 give the same bits.
#include "conv1x1_narrow.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gemm.h"
#include "simd.h"

namespace ddpm {
namespace cpu {
namespace {

constexpr int kLanes = 64;  // the filter gradient's partial sums per block: four vectors of 16, four chains
constexpr int kChunk = 1024;  // pixels per task and per filter-gradient block

// dst[i] = src[i], rounded to bf16 when asked, for i < n; zeros up to kChunk.
__attribute__((always_inline)) inline void load_chunk(float* dst, const float* src, int n, bool bf16) {
  if (bf16)
    for (int i = 0; i < n; ++i) dst[i] = round_to_bf16(src[i]);
  else
    for (int i = 0; i < n; ++i) dst[i] = src[i];
  for (int i = n; i < kChunk; ++i) dst[i] = 0.0f;
}

// The operands of one call: the weights (rounded for bf16) as wr[co * Ci + ci].
struct Narrow {
  int N, Ci, Co;
  int64_t HW;
  bool bf16;
  std::vector<float> wr;
  int64_t chunks_per_image() const { return (HW + kChunk - 1) / kChunk; }
};

// Task u's pixels: image n, pixels [p0, p0 + len) of its planes.
struct Block {
  int64_t n, p0;
  int len;
  Block(const Narrow& k, int64_t u)
      : n(u / k.chunks_per_image()), p0(u % k.chunks_per_image() * kChunk),
        len(static_cast<int>(std::min<int64_t>(kChunk, k.HW - p0))) {}
};

Narrow make_narrow(ConvMath math, const float* w, int N, int Ci, int64_t HW, int Co) {
  Narrow k{N, Ci, Co, HW, math == ConvMath::kBf16, std::vector<float>(static_cast<size_t>(Co) * Ci)};
  for (size_t i = 0; i < k.wr.size(); ++i) k.wr[i] = k.bf16 ? round_to_bf16(w[i]) : w[i];
  return k;
}

// y[n][co][p] = sum_ci wr[co][ci] x[n][ci][p] (+ b[co]) for the pixels of task u (image, chunk).
__attribute__((always_inline)) inline void forward_task(const Narrow& k, const float* x, const float* b, float* y,
                                                        int64_t u) {
  const Block blk(k, u);
  const int64_t n = blk.n, p0 = blk.p0;
  const int len = blk.len;
  alignas(64) float acc[kMaxNarrow][kChunk];
  alignas(64) float xr[kChunk];
  for (int co = 0; co < k.Co; ++co) std::fill(acc[co], acc[co] + kChunk, 0.0f);
  for (int ci = 0; ci < k.Ci; ++ci) {
    load_chunk(xr, x + (n * k.Ci + ci) * k.HW + p0, len, k.bf16);
    for (int co = 0; co < k.Co; ++co) {
      const float wv = k.wr[static_cast<size_t>(co) * k.Ci + ci];
      float* a = acc[co];
      for (int i = 0; i < kChunk; ++i) a[i] = std::fma(wv, xr[i], a[i]);
    }
  }
  for (int co = 0; co < k.Co; ++co) {
    float* out = y + (n * k.Co + co) * k.HW + p0;
    const float bv = b ? b[co] : 0.0f;
    if (b)
      for (int i = 0; i < len; ++i) out[i] = acc[co][i] + bv;
    else
      std::memcpy(out, acc[co], sizeof(float) * len);
  }
}

// dx[n][ci][p] = sum_co wr[co][ci] dy[n][co][p] for the pixels of task u.
__attribute__((always_inline)) inline void data_task(const Narrow& k, const float* dy, float* dx, int64_t u) {
  const Block blk(k, u);
  const int64_t n = blk.n, p0 = blk.p0;
  const int len = blk.len;
  alignas(64) float g[kMaxNarrow][kChunk];
  alignas(64) float acc[kChunk];
  for (int co = 0; co < k.Co; ++co) load_chunk(g[co], dy + (n * k.Co + co) * k.HW + p0, len, k.bf16);
  for (int ci = 0; ci < k.Ci; ++ci) {
    std::fill(acc, acc + kChunk, 0.0f);
    for (int co = 0; co < k.Co; ++co) {
      const float wv = k.wr[static_cast<size_t>(co) * k.Ci + ci];
      const float* gc = g[co];
      for (int i = 0; i < kChunk; ++i) acc[i] = std::fma(wv, gc[i], acc[i]);
    }
    std::memcpy(dx + (n * k.Ci + ci) * k.HW + p0, acc, sizeof(float) * len);
  }
}

// part[co * Ci + ci] = the sum over task u's pixels of dy[co] x[ci]: kLanes lanes, then the lanes in order.
__attribute__((always_inline)) inline void filter_task(const Narrow& k, const float* x, const float* dy, float* part,
                                                       int64_t u) {
  const Block blk(k, u);
  const int64_t n = blk.n, p0 = blk.p0;
  const int len = blk.len;
  alignas(64) float g[kMaxNarrow][kChunk];
  alignas(64) float xr[kChunk];
  for (int co = 0; co < k.Co; ++co) load_chunk(g[co], dy + (n * k.Co + co) * k.HW + p0, len, k.bf16);
  for (int ci = 0; ci < k.Ci; ++ci) {
    load_chunk(xr, x + (n * k.Ci + ci) * k.HW + p0, len, k.bf16);
    for (int co = 0; co < k.Co; ++co) {
      alignas(64) float lanes[kLanes] = {};
      const float* gc = g[co];
      for (int i = 0; i < kChunk; i += kLanes)
        for (int l = 0; l < kLanes; ++l) lanes[l] = std::fma(gc[i + l], xr[i + l], lanes[l]);
      float s = 0.0f;
      for (int l = 0; l < kLanes; ++l) s += lanes[l];
      part[static_cast<size_t>(co) * k.Ci + ci] = s;
    }
  }
}

// The same code built for each instruction set (the loops vectorise to its width; the results do not change).
#ifdef DDPM_X86
#define DDPM_NARROW_TARGET(NAME, TARGET)                                                                          \
  __attribute__((target(TARGET))) void NAME##_forward(const Narrow& k, const float* x, const float* b, float* y,   \
                                                      int64_t u) {                                                \
    forward_task(k, x, b, y, u);                                                                                  \
  }                                                                                                               \
  __attribute__((target(TARGET))) void NAME##_data(const Narrow& k, const float* dy, float* dx, int64_t u) {     \
    data_task(k, dy, dx, u);                                                                                      \
  }                                                                                                               \
  __attribute__((target(TARGET))) void NAME##_filter(const Narrow& k, const float* x, const float* dy, float* part, \
                                                     int64_t u) {                                                 \
    filter_task(k, x, dy, part, u);                                                                               \
  }
DDPM_NARROW_TARGET(avx2, "avx2,fma")
DDPM_NARROW_TARGET(avx512, DDPM_AVX512)
#undef DDPM_NARROW_TARGET
#endif

bool narrow_supported(int Co) {
#ifdef DDPM_X86
  return Co >= 1 && Co <= kMaxNarrow && gemm_use_avx2();
#else
  (void)Co;
  return false;
#endif
}

}  // namespace

bool conv1x1_narrow_forward(ThreadPool& pool, ConvMath math, const float* x, const float* w, const float* b, float* y,
                            int N, int Ci, int64_t HW, int Co) {
  if (!narrow_supported(Co) || N < 1 || Ci < 1 || HW < 1) return false;
#ifdef DDPM_X86
  const Narrow k = make_narrow(math, w, N, Ci, HW, Co);
  const bool z = gemm_isa() == GemmIsa::kAvx512;
  pool.parallel_for(N * k.chunks_per_image(), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t u = lo; u < hi; ++u) z ? avx512_forward(k, x, b, y, u) : avx2_forward(k, x, b, y, u);
  });
  return true;
#else
  return false;
#endif
}

bool conv1x1_narrow_backward(ThreadPool& pool, ConvMath math, const float* x, const float* w, const float* dy,
                             float* dx, float* dw, int N, int Ci, int64_t HW, int Co) {
  if (!narrow_supported(Co) || N < 1 || Ci < 1 || HW < 1) return false;
#ifdef DDPM_X86
  const Narrow k = make_narrow(math, w, N, Ci, HW, Co);
  const bool z = gemm_isa() == GemmIsa::kAvx512;
  const int64_t tasks = N * k.chunks_per_image();
  const size_t per = static_cast<size_t>(Co) * Ci;
  thread_local std::vector<float> part_store;  // the blocks' partial sums, kept between calls
  if (part_store.size() < static_cast<size_t>(tasks) * per) part_store.resize(static_cast<size_t>(tasks) * per);
  float* const parts = part_store.data();  // the caller's buffer: in the workers the name would be their own
  pool.parallel_for(tasks, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t u = lo; u < hi; ++u) {
      float* part = parts + static_cast<size_t>(u) * per;
      z ? avx512_filter(k, x, dy, part, u) : avx2_filter(k, x, dy, part, u);
      if (dx) z ? avx512_data(k, dy, dx, u) : avx2_data(k, dy, dx, u);
    }
  });
  for (size_t i = 0; i < per; ++i) {  // the blocks in order
    double s = 0.0;
    for (int64_t u = 0; u < tasks; ++u) s += parts[static_cast<size_t>(u) * per + i];
    dw[i] = static_cast<float>(s);
  }
  return true;
#else
  return false;
#endif
}

}  // namespace cpu
}  // namespace ddpm
