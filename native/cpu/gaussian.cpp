// The CPU's gaussians (gaussian.h): Philox4x32-10 and the Box-Muller
// transform of ddpm/rng.h on 16 (AVX-512) or 8 (AVX2) Philox blocks at once,
// one block per lane. Each lane performs exactly the scalar code's IEEE
// operations (rng::log_unit, rng::sincos_turn: the same constants, the same
// fused multiply-adds, correctly rounded square roots), so the results are
// gaussian_at's bits; test_ops checks that for every instruction set.
#include "gaussian.h"

#include "ddpm/rng.h"
#include "gemm.h"
#include "simd.h"

namespace ddpm {
namespace cpu {
namespace {

constexpr uint32_t kPhiloxM0 = 0xD2511F53u, kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u, kPhiloxW1 = 0xBB67AE85u;

// Blocks q .. q + count - 1 into out[0 .. 4 count).
void blocks_scalar(uint64_t seed, uint64_t stream, uint64_t q, int64_t count, float* out) {
  for (int64_t b = 0; b < count; ++b) {
    float z[4];
    rng::gaussian4(seed, stream, q + static_cast<uint64_t>(b), z);
    for (int j = 0; j < 4; ++j) out[4 * b + j] = z[j];
  }
}

#if defined(DDPM_X86)

using K = rng::BoxMullerConstants;

// ---- AVX-512: 16 blocks, lane l = block q + l ----------------------------

// The high and low 32 bits of a * m in every lane.
__attribute__((target(DDPM_AVX512), always_inline)) inline void mulhilo16(__m512i a, __m512i m, __m512i& hi,
                                                                           __m512i& lo) {
  const __m512i even = _mm512_mul_epu32(a, m);
  const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
  lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
  hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
}

__attribute__((target(DDPM_AVX512), always_inline)) inline __m512 to_unit16(__m512i v) {
  const __m512 f = _mm512_cvtepi32_ps(_mm512_srli_epi32(v, 8));
  return _mm512_mul_ps(_mm512_add_ps(f, _mm512_set1_ps(0.5f)), _mm512_set1_ps(1.0f / 16777216.0f));
}

// rng::log_unit, lane by lane.
__attribute__((target(DDPM_AVX512), always_inline)) inline __m512 log_unit16(__m512 u) {
  const __m512i bits = _mm512_castps_si512(u);
  __m512i e = _mm512_sub_epi32(_mm512_srli_epi32(bits, 23), _mm512_set1_epi32(126));
  const __m512 m = _mm512_castsi512_ps(
      _mm512_or_si512(_mm512_and_si512(bits, _mm512_set1_epi32(0x007fffff)), _mm512_set1_epi32(0x3f000000)));
  const __mmask16 small = _mm512_cmp_ps_mask(m, _mm512_set1_ps(K::sqrt_half), _CMP_LT_OQ);
  e = _mm512_mask_sub_epi32(e, small, e, _mm512_set1_epi32(1));
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 x = _mm512_mask_blend_ps(small, _mm512_sub_ps(m, one), _mm512_sub_ps(_mm512_add_ps(m, m), one));
  const __m512 z = _mm512_mul_ps(x, x);
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(K::p0), x, _mm512_set1_ps(K::p1));
  p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(K::p2));
  p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(K::p3));
  p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(K::p4));
  p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(K::p5));
  p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(K::p6));
  p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(K::p7));
  p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(K::p8));
  const __m512 fe = _mm512_cvtepi32_ps(e);
  __m512 y = _mm512_fmadd_ps(fe, _mm512_set1_ps(K::ln2_lo), _mm512_mul_ps(_mm512_mul_ps(x, z), p));
  y = _mm512_fmadd_ps(_mm512_set1_ps(-0.5f), z, y);
  const __m512 r = _mm512_add_ps(x, y);
  return _mm512_fmadd_ps(fe, _mm512_set1_ps(K::ln2_hi), r);
}

// rng::sincos_turn, lane by lane.
__attribute__((target(DDPM_AVX512), always_inline)) inline void sincos_turn16(__m512 u, __m512& s, __m512& c) {
  const __m512 q = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_set1_ps(4.0f), u), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 r = _mm512_fmadd_ps(_mm512_set1_ps(-0.25f), q, u);
  const __m512 r2 = _mm512_mul_ps(r, r);
  __m512 sp = _mm512_fmadd_ps(_mm512_set1_ps(K::s9), r2, _mm512_set1_ps(K::s7));
  sp = _mm512_fmadd_ps(sp, r2, _mm512_set1_ps(K::s5));
  sp = _mm512_fmadd_ps(sp, r2, _mm512_set1_ps(K::s3));
  __m512 cp = _mm512_fmadd_ps(_mm512_set1_ps(K::c10), r2, _mm512_set1_ps(K::c8));
  cp = _mm512_fmadd_ps(cp, r2, _mm512_set1_ps(K::c6));
  cp = _mm512_fmadd_ps(cp, r2, _mm512_set1_ps(K::c4));
  const __m512 r4 = _mm512_mul_ps(r2, r2);
  const __m512 sr = _mm512_fmadd_ps(r, _mm512_set1_ps(K::s1), _mm512_mul_ps(_mm512_mul_ps(r, r2), sp));
  const __m512 cr = _mm512_add_ps(_mm512_fmadd_ps(r2, _mm512_set1_ps(K::c2), _mm512_mul_ps(r4, cp)), _mm512_set1_ps(1.0f));
  // Quadrant q mod 4: 0 (sr, cr), 1 (cr, -sr), 2 (-sr, -cr), 3 (-cr, sr).
  const __m512i qi = _mm512_cvtps_epi32(q);
  const __mmask16 odd = _mm512_test_epi32_mask(qi, _mm512_set1_epi32(1));
  const __mmask16 neg_s = _mm512_test_epi32_mask(qi, _mm512_set1_epi32(2));
  const __mmask16 neg_c = _mm512_test_epi32_mask(_mm512_add_epi32(qi, _mm512_set1_epi32(1)), _mm512_set1_epi32(2));
  const __m512i sign = _mm512_set1_epi32(static_cast<int>(0x80000000u));
  const __m512i sv = _mm512_castps_si512(_mm512_mask_blend_ps(odd, sr, cr));
  const __m512i cv = _mm512_castps_si512(_mm512_mask_blend_ps(odd, cr, sr));
  s = _mm512_castsi512_ps(_mm512_mask_xor_epi32(sv, neg_s, sv, sign));
  c = _mm512_castsi512_ps(_mm512_mask_xor_epi32(cv, neg_c, cv, sign));
}

// Blocks q .. q + 15 into out[0 .. 64); needs lo32(q) + 15 without a carry.
__attribute__((target(DDPM_AVX512))) void blocks16_avx512(uint64_t seed, uint64_t stream, uint64_t q, float* out) {
  __m512i c0 = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(q))),
                                _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  __m512i c1 = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(q >> 32)));
  __m512i c2 = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream)));
  __m512i c3 = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream >> 32)));
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  const __m512i m0 = _mm512_set1_epi32(static_cast<int>(kPhiloxM0)), m1 = _mm512_set1_epi32(static_cast<int>(kPhiloxM1));
  for (int round = 0; round < 10; ++round) {
    __m512i hi0, lo0, hi1, lo1;
    mulhilo16(c0, m0, hi0, lo0);
    mulhilo16(c2, m1, hi1, lo1);
    c0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32(static_cast<int>(k0)));
    c1 = lo1;
    c2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32(static_cast<int>(k1)));
    c3 = lo0;
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
  }
  __m512 z[4];
  for (int pair = 0; pair < 2; ++pair) {
    const __m512 radius = _mm512_sqrt_ps(_mm512_mul_ps(_mm512_set1_ps(-2.0f), log_unit16(to_unit16(pair ? c2 : c0))));
    __m512 s, c;
    sincos_turn16(to_unit16(pair ? c3 : c1), s, c);
    z[2 * pair] = _mm512_mul_ps(radius, c);
    z[2 * pair + 1] = _mm512_mul_ps(radius, s);
  }
  // out[4 l + j] = z[j][l]: a 4 x 4 transpose of 4-float groups.
  const __m512 a = _mm512_unpacklo_ps(z[0], z[1]), b = _mm512_unpackhi_ps(z[0], z[1]);
  const __m512 c = _mm512_unpacklo_ps(z[2], z[3]), d = _mm512_unpackhi_ps(z[2], z[3]);
  // t_j's 128-bit lane k holds block 4k + j.
  const __m512 t0 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(c)));
  const __m512 t1 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(c)));
  const __m512 t2 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(b), _mm512_castps_pd(d)));
  const __m512 t3 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(b), _mm512_castps_pd(d)));
  const __m512 u0 = _mm512_shuffle_f32x4(t0, t1, 0x44), u1 = _mm512_shuffle_f32x4(t2, t3, 0x44);
  const __m512 u2 = _mm512_shuffle_f32x4(t0, t1, 0xEE), u3 = _mm512_shuffle_f32x4(t2, t3, 0xEE);
  _mm512_storeu_ps(out, _mm512_shuffle_f32x4(u0, u1, 0x88));
  _mm512_storeu_ps(out + 16, _mm512_shuffle_f32x4(u0, u1, 0xDD));
  _mm512_storeu_ps(out + 32, _mm512_shuffle_f32x4(u2, u3, 0x88));
  _mm512_storeu_ps(out + 48, _mm512_shuffle_f32x4(u2, u3, 0xDD));
}

// ---- AVX2: 8 blocks, lane l = block q + l --------------------------------

__attribute__((target("avx2,fma"), always_inline)) inline void mulhilo8(__m256i a, __m256i m, __m256i& hi, __m256i& lo) {
  const __m256i even = _mm256_mul_epu32(a, m);
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
  lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

__attribute__((target("avx2,fma"), always_inline)) inline __m256 to_unit8(__m256i v) {
  const __m256 f = _mm256_cvtepi32_ps(_mm256_srli_epi32(v, 8));
  return _mm256_mul_ps(_mm256_add_ps(f, _mm256_set1_ps(0.5f)), _mm256_set1_ps(1.0f / 16777216.0f));
}

__attribute__((target("avx2,fma"), always_inline)) inline __m256 log_unit8(__m256 u) {
  const __m256i bits = _mm256_castps_si256(u);
  __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126));
  const __m256 m = _mm256_castsi256_ps(
      _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f000000)));
  const __m256 small = _mm256_cmp_ps(m, _mm256_set1_ps(K::sqrt_half), _CMP_LT_OQ);
  e = _mm256_sub_epi32(e, _mm256_and_si256(_mm256_castps_si256(small), _mm256_set1_epi32(1)));
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 x = _mm256_blendv_ps(_mm256_sub_ps(m, one), _mm256_sub_ps(_mm256_add_ps(m, m), one), small);
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(K::p0), x, _mm256_set1_ps(K::p1));
  p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(K::p2));
  p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(K::p3));
  p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(K::p4));
  p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(K::p5));
  p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(K::p6));
  p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(K::p7));
  p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(K::p8));
  const __m256 fe = _mm256_cvtepi32_ps(e);
  __m256 y = _mm256_fmadd_ps(fe, _mm256_set1_ps(K::ln2_lo), _mm256_mul_ps(_mm256_mul_ps(x, z), p));
  y = _mm256_fmadd_ps(_mm256_set1_ps(-0.5f), z, y);
  const __m256 r = _mm256_add_ps(x, y);
  return _mm256_fmadd_ps(fe, _mm256_set1_ps(K::ln2_hi), r);
}

__attribute__((target("avx2,fma"), always_inline)) inline void sincos_turn8(__m256 u, __m256& s, __m256& c) {
  const __m256 q = _mm256_round_ps(_mm256_mul_ps(_mm256_set1_ps(4.0f), u), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 r = _mm256_fmadd_ps(_mm256_set1_ps(-0.25f), q, u);
  const __m256 r2 = _mm256_mul_ps(r, r);
  __m256 sp = _mm256_fmadd_ps(_mm256_set1_ps(K::s9), r2, _mm256_set1_ps(K::s7));
  sp = _mm256_fmadd_ps(sp, r2, _mm256_set1_ps(K::s5));
  sp = _mm256_fmadd_ps(sp, r2, _mm256_set1_ps(K::s3));
  __m256 cp = _mm256_fmadd_ps(_mm256_set1_ps(K::c10), r2, _mm256_set1_ps(K::c8));
  cp = _mm256_fmadd_ps(cp, r2, _mm256_set1_ps(K::c6));
  cp = _mm256_fmadd_ps(cp, r2, _mm256_set1_ps(K::c4));
  const __m256 r4 = _mm256_mul_ps(r2, r2);
  const __m256 sr = _mm256_fmadd_ps(r, _mm256_set1_ps(K::s1), _mm256_mul_ps(_mm256_mul_ps(r, r2), sp));
  const __m256 cr = _mm256_add_ps(_mm256_fmadd_ps(r2, _mm256_set1_ps(K::c2), _mm256_mul_ps(r4, cp)), _mm256_set1_ps(1.0f));
  // Quadrant q mod 4: 0 (sr, cr), 1 (cr, -sr), 2 (-sr, -cr), 3 (-cr, sr);
  // the sign flips are bit 1 of q (sine) and of q + 1 (cosine), moved to bit 31.
  const __m256i qi = _mm256_cvtps_epi32(q);
  const __m256 odd = _mm256_castsi256_ps(_mm256_slli_epi32(qi, 31));  // blendv reads the top bit
  const __m256i two = _mm256_set1_epi32(2);
  const __m256 neg_s = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_and_si256(qi, two), 30));
  const __m256 neg_c = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_and_si256(_mm256_add_epi32(qi, _mm256_set1_epi32(1)), two), 30));
  s = _mm256_xor_ps(_mm256_blendv_ps(sr, cr, odd), neg_s);
  c = _mm256_xor_ps(_mm256_blendv_ps(cr, sr, odd), neg_c);
}

// Blocks q .. q + 7 into out[0 .. 32); needs lo32(q) + 7 without a carry.
__attribute__((target("avx2,fma"))) void blocks8_avx2(uint64_t seed, uint64_t stream, uint64_t q, float* out) {
  __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(q))),
                                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  __m256i c1 = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(q >> 32)));
  __m256i c2 = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream)));
  __m256i c3 = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream >> 32)));
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(kPhiloxM0)), m1 = _mm256_set1_epi32(static_cast<int>(kPhiloxM1));
  for (int round = 0; round < 10; ++round) {
    __m256i hi0, lo0, hi1, lo1;
    mulhilo8(c0, m0, hi0, lo0);
    mulhilo8(c2, m1, hi1, lo1);
    c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32(static_cast<int>(k0)));
    c1 = lo1;
    c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32(static_cast<int>(k1)));
    c3 = lo0;
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
  }
  __m256 z[4];
  for (int pair = 0; pair < 2; ++pair) {
    const __m256 radius = _mm256_sqrt_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0f), log_unit8(to_unit8(pair ? c2 : c0))));
    __m256 s, c;
    sincos_turn8(to_unit8(pair ? c3 : c1), s, c);
    z[2 * pair] = _mm256_mul_ps(radius, c);
    z[2 * pair + 1] = _mm256_mul_ps(radius, s);
  }
  // out[4 l + j] = z[j][l]; t_j's 128-bit lane k holds block 4k + j.
  const __m256 a = _mm256_unpacklo_ps(z[0], z[1]), b = _mm256_unpackhi_ps(z[0], z[1]);
  const __m256 c = _mm256_unpacklo_ps(z[2], z[3]), d = _mm256_unpackhi_ps(z[2], z[3]);
  const __m256 t0 = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(a), _mm256_castps_pd(c)));
  const __m256 t1 = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(a), _mm256_castps_pd(c)));
  const __m256 t2 = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(b), _mm256_castps_pd(d)));
  const __m256 t3 = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(b), _mm256_castps_pd(d)));
  _mm256_storeu_ps(out, _mm256_permute2f128_ps(t0, t1, 0x20));
  _mm256_storeu_ps(out + 8, _mm256_permute2f128_ps(t2, t3, 0x20));
  _mm256_storeu_ps(out + 16, _mm256_permute2f128_ps(t0, t1, 0x31));
  _mm256_storeu_ps(out + 24, _mm256_permute2f128_ps(t2, t3, 0x31));
}

#endif  // DDPM_X86

// Whether blocks q .. q + count - 1 share the high counter word.
bool no_carry(uint64_t q, int count) { return static_cast<uint32_t>(q) <= 0xFFFFFFFFu - static_cast<uint32_t>(count - 1); }

}  // namespace

void fill_gaussians(uint64_t seed, uint64_t stream, uint64_t first, int64_t n, float* out) {
  int64_t i = 0;
  for (; i < n && ((first + static_cast<uint64_t>(i)) & 3) != 0; ++i) out[i] = rng::gaussian_at(seed, stream, first + i);
#if defined(DDPM_X86)
  const GemmIsa isa = gemm_isa();
  if (isa == GemmIsa::kAvx512) {
    for (; i + 64 <= n; i += 64) {
      const uint64_t q = (first + static_cast<uint64_t>(i)) >> 2;
      if (no_carry(q, 16))
        blocks16_avx512(seed, stream, q, out + i);
      else
        blocks_scalar(seed, stream, q, 16, out + i);
    }
  }
  if (isa >= GemmIsa::kAvx2) {
    for (; i + 32 <= n; i += 32) {
      const uint64_t q = (first + static_cast<uint64_t>(i)) >> 2;
      if (no_carry(q, 8))
        blocks8_avx2(seed, stream, q, out + i);
      else
        blocks_scalar(seed, stream, q, 8, out + i);
    }
  }
#endif
  if (n - i >= 4) {
    const int64_t blocks = (n - i) / 4;
    blocks_scalar(seed, stream, (first + static_cast<uint64_t>(i)) >> 2, blocks, out + i);
    i += 4 * blocks;
  }
  for (; i < n; ++i) out[i] = rng::gaussian_at(seed, stream, first + i);
}

}  // namespace cpu
}  // namespace ddpm
