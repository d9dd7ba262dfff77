// Deterministic, vectorisable reductions shared by the CPU ops.
//
// A plain `for (...) s += p[i]` is a serial chain of dependent float adds
// (about 3 cycles each) that the compiler may not reorder. These keep
// kLanes independent partial sums (which the compiler turns into SIMD
// registers), then combine them in one fixed order. The order depends only on
// the length, never on threads or alignment, so results are reproducible bit
// for bit.
#pragma once

#include <cstdint>
#include <vector>

#include "thread_pool.h"

namespace ddpm {
namespace cpu {

constexpr int kReduceLanes = 16;

// Combines the lanes pairwise in a fixed tree.
inline float combine_lanes(const float* acc) {
  float t8[8];
  for (int i = 0; i < 8; ++i) t8[i] = acc[i] + acc[i + 8];
  float t4[4];
  for (int i = 0; i < 4; ++i) t4[i] = t8[i] + t8[i + 4];
  return (t4[0] + t4[2]) + (t4[1] + t4[3]);
}

// sum of p[0, n)
inline float sum_floats(const float* p, int64_t n) {
  float acc[kReduceLanes] = {};
  int64_t i = 0;
  for (; i + kReduceLanes <= n; i += kReduceLanes)
    for (int l = 0; l < kReduceLanes; ++l) acc[l] += p[i + l];
  float s = combine_lanes(acc);
  for (; i < n; ++i) s += p[i];
  return s;
}

// sum of (p[i] - mean)^2 over [0, n)
inline float sum_squared_deviation(const float* p, int64_t n, float mean) {
  float acc[kReduceLanes] = {};
  int64_t i = 0;
  for (; i + kReduceLanes <= n; i += kReduceLanes)
    for (int l = 0; l < kReduceLanes; ++l) {
      const float d = p[i + l] - mean;
      acc[l] += d * d;
    }
  float s = combine_lanes(acc);
  for (; i < n; ++i) {
    const float d = p[i] - mean;
    s += d * d;
  }
  return s;
}

// out[c] = sum over samples n of the sum of plane t[n][c] (HW floats): the
// plane sums are added in sample order. (The bias gradients of the
// convolutions.) Planes go in memory order, a run per task (a channel's
// planes lie C * HW apart: a walk channel by channel hops pages).
inline void channel_sums(ThreadPool& pool, const float* t, float* out, int N, int C, int64_t HW) {
  const int64_t planes = static_cast<int64_t>(N) * C;
  std::vector<float> sums(planes);
  pool.parallel_for(planes, grain_for(HW), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) sums[p] = sum_floats(t + p * HW, HW);
  });
  for (int c = 0; c < C; ++c) {
    float s = 0.0f;
    for (int n = 0; n < N; ++n) s += sums[static_cast<int64_t>(n) * C + c];
    out[c] = s;
  }
}

}  // namespace cpu
}  // namespace ddpm
