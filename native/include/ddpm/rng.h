// Counter-based random numbers shared by every backend (Philox4x32-10,
// Salmon et al. 2011). Element i of a stream is a pure function of
// (seed, stream, i), so CPU and GPU produce the same numbers (up to the last
// ulp of logf/sinf/cosf) and results do not depend on thread or block layout.
//
// Layout: element i uses Philox block i/4 (counter = {lo(i/4), hi(i/4),
// lo(stream), hi(stream)}, key = {lo(seed), hi(seed)}) and lane i%4.
// Gaussians use Box-Muller on lane pairs (0,1) and (2,3).
#pragma once

#include <cstdint>
#include <math.h>

#if defined(__CUDACC__)
#define DDPM_HD __host__ __device__ __forceinline__
#else
#define DDPM_HD inline
#endif

namespace ddpm {
namespace rng {

struct U4 {
  uint32_t x[4];
};

DDPM_HD void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

DDPM_HD U4 philox4x32_10(uint64_t block, uint64_t stream, uint64_t seed) {
  uint32_t c0 = static_cast<uint32_t>(block), c1 = static_cast<uint32_t>(block >> 32);
  uint32_t c2 = static_cast<uint32_t>(stream), c3 = static_cast<uint32_t>(stream >> 32);
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(0xD2511F53u, c0, hi0, lo0);
    mulhilo(0xCD9E8D57u, c2, hi1, lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0;
    uint32_t n1 = lo1;
    uint32_t n2 = hi0 ^ c3 ^ k1;
    uint32_t n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  U4 r;
  r.x[0] = c0;
  r.x[1] = c1;
  r.x[2] = c2;
  r.x[3] = c3;
  return r;
}

// Uniform in (0, 1): never 0, so log() is finite.
DDPM_HD float to_unit(uint32_t v) { return (static_cast<float>(v >> 8) + 0.5f) * (1.0f / 16777216.0f); }

// The gaussian for element i of (seed, stream).
DDPM_HD float gaussian_at(uint64_t seed, uint64_t stream, uint64_t i) {
  U4 r = philox4x32_10(i >> 2, stream, seed);
  int lane = static_cast<int>(i & 3);
  int pair = lane >> 1;
  float u1 = to_unit(r.x[2 * pair]);
  float u2 = to_unit(r.x[2 * pair + 1]);
  float radius = sqrtf(-2.0f * logf(u1));
  float angle = 6.283185307179586f * u2;
  return (lane & 1) ? radius * sinf(angle) : radius * cosf(angle);
}

// The four gaussians of Philox block q (elements 4q .. 4q+3): exactly
// gaussian_at of each, with one Philox call and one log and sqrt per pair
// instead of per element.
DDPM_HD void gaussian4(uint64_t seed, uint64_t stream, uint64_t q, float (&z)[4]) {
  const U4 r = philox4x32_10(q, stream, seed);
  for (int pair = 0; pair < 2; ++pair) {
    const float u1 = to_unit(r.x[2 * pair]);
    const float u2 = to_unit(r.x[2 * pair + 1]);
    const float radius = sqrtf(-2.0f * logf(u1));
    const float angle = 6.283185307179586f * u2;
    z[2 * pair] = radius * cosf(angle);
    z[2 * pair + 1] = radius * sinf(angle);
  }
}

// f(i, z) for i in [0, n): z = element offset + i of (seed, stream), a whole
// Philox block at a time (gaussian4) where the range covers one.
template <typename F>
void for_each_gaussian(uint64_t seed, uint64_t stream, uint64_t offset, int64_t n, F&& f) {
  int64_t i = 0;
  for (; i < n && ((offset + static_cast<uint64_t>(i)) & 3) != 0; ++i) f(i, gaussian_at(seed, stream, offset + i));
  float z[4];
  for (; i + 4 <= n; i += 4) {
    gaussian4(seed, stream, (offset + static_cast<uint64_t>(i)) >> 2, z);
    f(i, z[0]);
    f(i + 1, z[1]);
    f(i + 2, z[2]);
    f(i + 3, z[3]);
  }
  for (; i < n; ++i) f(i, gaussian_at(seed, stream, offset + i));
}

// Uniform in (0, 1) for element i of (seed, stream).
DDPM_HD float uniform_at(uint64_t seed, uint64_t stream, uint64_t i) {
  return to_unit(philox4x32_10(i >> 2, stream, seed).x[i & 3]);
}

// Uniform integer in [0, high) for element i of (seed, stream).
DDPM_HD int32_t uniform_int_at(uint64_t seed, uint64_t stream, uint64_t i, int32_t high) {
  U4 r = philox4x32_10(i >> 2, stream, seed);
  uint32_t v = r.x[i & 3];
  return static_cast<int32_t>((static_cast<uint64_t>(v) * static_cast<uint64_t>(high)) >> 32);
}

}  // namespace rng
}  // namespace ddpm
