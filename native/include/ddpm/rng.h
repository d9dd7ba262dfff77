// Counter-based random numbers shared by every backend (Philox4x32-10,
// Salmon et al. 2011). Element i of a stream is a pure function of
// (seed, stream, i), so results do not depend on thread or block layout, and
// CPU and GPU produce the same bits: the Box-Muller transform's logarithm,
// sine and cosine are written out here (log_unit, sincos_turn) as one fixed
// sequence of IEEE operations with explicit fused multiply-adds, instead of
// each platform's logf/sinf/cosf, which differ in the last ulp. The CPU's
// vector kernels (cpu/gaussian.cpp) perform the same operations lane by lane.
//
// Layout: element i uses Philox block i/4 (counter = {lo(i/4), hi(i/4),
// lo(stream), hi(stream)}, key = {lo(seed), hi(seed)}) and lane i%4.
// Gaussians use Box-Muller on lane pairs (0,1) and (2,3).
//
// Every multiply feeding an add is an explicit fmaf, and no product is
// left for a compiler to contract (GCC's and nvcc's default contraction
// could otherwise fuse a*b + c differently on each platform).
#pragma once

#include <cstdint>
#include <cstring>
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

// Uniform in (0, 1]: never 0, so the logarithm is finite. (The sum rounds
// to 2^24 for the top value of v >> 8, so 1 itself occurs: radius 0.)
DDPM_HD float to_unit(uint32_t v) { return (static_cast<float>(v >> 8) + 0.5f) * (1.0f / 16777216.0f); }

DDPM_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}
DDPM_HD float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// The constants of log_unit and sincos_turn, shared with the vector kernels
// (scalars: constexpr arrays cannot be read in CUDA device code).
struct BoxMullerConstants {
  // ln(1 + x) = x - x^2/2 + x^3 P(x) on [sqrt(1/2) - 1, sqrt(2) - 1]
  // (Cephes' logf polynomial: P = p0 x^8 + p1 x^7 + ... + p8), and ln 2 as
  // a short high part (exact times any exponent here) plus a low part.
  static constexpr float p0 = 7.0376836292e-2f, p1 = -1.1514610310e-1f, p2 = 1.1676998740e-1f,
                         p3 = -1.2420140846e-1f, p4 = 1.4249322787e-1f, p5 = -1.6668057665e-1f,
                         p6 = 2.0000714765e-1f, p7 = -2.4999993993e-1f, p8 = 3.3333331174e-1f;
  static constexpr float sqrt_half = 0.70710678f;
  static constexpr float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
  // sin(2 pi r) = r (s1 + s3 r^2 + ... + s9 r^8) and cos(2 pi r) = 1 + c2 r^2
  // + ... + c10 r^10 for |r| <= 1/8: the Taylor coefficients (2 pi)^k / k!
  // with their signs; the first omitted terms are below 3e-9 there.
  static constexpr float s1 = 6.283185307179586f, s3 = -41.341702240399755f, s5 = 81.60524927607504f,
                         s7 = -76.70585975306136f, s9 = 42.058693944897634f;
  static constexpr float c2 = -19.739208802178716f, c4 = 64.93939402266828f, c6 = -85.45681720669371f,
                         c8 = 60.24464137187664f, c10 = -26.426256783374388f;
};

// ln(u) for u in (0, 1] (a normal float): within 0.83 ulp for every u that
// to_unit yields (test_rng), and the same bits on every platform.
DDPM_HD float log_unit(float u) {
  using K = BoxMullerConstants;
  const uint32_t bits = float_bits(u);
  int e = static_cast<int>(bits >> 23) - 126;                    // u = m 2^e, m in [1/2, 1)
  const float m = bits_float((bits & 0x007fffffu) | 0x3f000000u);
  float x;                                                         // exact: m - 1 or 2m - 1
  if (m < K::sqrt_half) {
    e -= 1;
    x = (m + m) - 1.0f;
  } else {
    x = m - 1.0f;
  }
  const float z = x * x;
  float p = fmaf(K::p0, x, K::p1);
  p = fmaf(p, x, K::p2);
  p = fmaf(p, x, K::p3);
  p = fmaf(p, x, K::p4);
  p = fmaf(p, x, K::p5);
  p = fmaf(p, x, K::p6);
  p = fmaf(p, x, K::p7);
  p = fmaf(p, x, K::p8);
  const float fe = static_cast<float>(e);
  float y = fmaf(fe, K::ln2_lo, (x * z) * p);
  y = fmaf(-0.5f, z, y);
  const float r = x + y;
  return fmaf(fe, K::ln2_hi, r);
}

// sin(2 pi u) and cos(2 pi u) for u in [0, 1]: within 1.1 ulp for every u
// that to_unit yields (test_rng), and the same bits on every platform.
// u = q/4 + r exactly, with q the nearest quarter turn and |r| <= 1/8, so
// 2 pi u is never rounded (as sinf(6.2831855f * u) would round it).
DDPM_HD void sincos_turn(float u, float& s, float& c) {
  using K = BoxMullerConstants;
  const float q = rintf(4.0f * u);
  const float r = fmaf(-0.25f, q, u);
  const float r2 = r * r;
  // The leading terms r s1 and 1 + r^2 c2 go in last, through a fused
  // multiply-add, so that the rounding of the small rest hardly shows.
  float sp = fmaf(K::s9, r2, K::s7);
  sp = fmaf(sp, r2, K::s5);
  sp = fmaf(sp, r2, K::s3);
  float cp = fmaf(K::c10, r2, K::c8);
  cp = fmaf(cp, r2, K::c6);
  cp = fmaf(cp, r2, K::c4);
  const float r4 = r2 * r2;
  const float sr = fmaf(r, K::s1, (r * r2) * sp);
  const float cr = fmaf(r2, K::c2, r4 * cp) + 1.0f;
  switch (static_cast<int>(q) & 3) {
    case 0: s = sr; c = cr; break;
    case 1: s = cr; c = -sr; break;
    case 2: s = -sr; c = -cr; break;
    default: s = -cr; c = sr; break;
  }
}

// Box-Muller on one pair of Philox words: z0 = radius cos, z1 = radius sin.
DDPM_HD void box_muller(uint32_t w1, uint32_t w2, float& z0, float& z1) {
  const float radius = sqrtf(-2.0f * log_unit(to_unit(w1)));
  float s, c;
  sincos_turn(to_unit(w2), s, c);
  z0 = radius * c;
  z1 = radius * s;
}

// The gaussian for element i of (seed, stream).
DDPM_HD float gaussian_at(uint64_t seed, uint64_t stream, uint64_t i) {
  const U4 r = philox4x32_10(i >> 2, stream, seed);
  const int lane = static_cast<int>(i & 3);
  const int pair = lane >> 1;
  float z0, z1;
  box_muller(r.x[2 * pair], r.x[2 * pair + 1], z0, z1);
  return (lane & 1) ? z1 : z0;
}

// The four gaussians of Philox block q (elements 4q .. 4q+3): exactly
// gaussian_at of each, with one Philox call.
DDPM_HD void gaussian4(uint64_t seed, uint64_t stream, uint64_t q, float (&z)[4]) {
  const U4 r = philox4x32_10(q, stream, seed);
  box_muller(r.x[0], r.x[1], z[0], z[1]);
  box_muller(r.x[2], r.x[3], z[2], z[3]);
}

// Uniform in (0, 1] for element i of (seed, stream).
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
