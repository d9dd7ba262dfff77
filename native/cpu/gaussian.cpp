// The CPU's gaussians (gaussian.h): Philox4x32-10 and the Box-Muller
// transform of ddpm/rng.h on 16 (AVX-512) or 8 (AVX2) Philox blocks at once,
// one block per lane, written once (gaussian_body.inc) over the vector types
// below. Each lane performs exactly the scalar code's IEEE operations
// (rng::log_unit, rng::sincos_turn: the same constants, the same fused
// multiply-adds, correctly rounded square roots), so the results are
// gaussian_at's bits; test_rng checks that for every instruction set.
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

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma")
// ---- AVX-512: 16 lanes -------------------------------------------------------
struct VI512 {
  __m512i v;
  static VI512 set1(uint32_t x) { return {_mm512_set1_epi32(static_cast<int>(x))}; }
  static VI512 iota(uint32_t base) {
    return {_mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(base)),
                             _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))};
  }
  static VI512 add(VI512 a, VI512 b) { return {_mm512_add_epi32(a.v, b.v)}; }
  static VI512 sub(VI512 a, VI512 b) { return {_mm512_sub_epi32(a.v, b.v)}; }
  static VI512 and_(VI512 a, VI512 b) { return {_mm512_and_si512(a.v, b.v)}; }
  static VI512 or_(VI512 a, VI512 b) { return {_mm512_or_si512(a.v, b.v)}; }
  static VI512 xor_(VI512 a, VI512 b) { return {_mm512_xor_si512(a.v, b.v)}; }
  template <int N>
  static VI512 srli(VI512 a) { return {_mm512_srli_epi32(a.v, N)}; }
  template <int N>
  static VI512 slli(VI512 a) { return {_mm512_slli_epi32(a.v, N)}; }
  static __m512 to_float(VI512 a) { return _mm512_cvtepi32_ps(a.v); }
  // The high and low 32 bits of a * m in every lane.
  static void mulhilo(VI512 a, VI512 m, VI512& hi, VI512& lo) {
    const __m512i even = _mm512_mul_epu32(a.v, m.v);
    const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a.v, 32), m.v);
    lo.v = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
    hi.v = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
  }
};
struct VF512 {
  __m512 v;
  VF512() = default;
  VF512(__m512 x) : v(x) {}
  static constexpr int kLanes = 16;
  static VF512 set1(float x) { return _mm512_set1_ps(x); }
  static VF512 add(VF512 a, VF512 b) { return _mm512_add_ps(a.v, b.v); }
  static VF512 sub(VF512 a, VF512 b) { return _mm512_sub_ps(a.v, b.v); }
  static VF512 mul(VF512 a, VF512 b) { return _mm512_mul_ps(a.v, b.v); }
  static VF512 fma(VF512 a, VF512 b, VF512 c) { return _mm512_fmadd_ps(a.v, b.v, c.v); }
  static VF512 sqrt(VF512 a) { return _mm512_sqrt_ps(a.v); }
  static VF512 round_nearest(VF512 a) { return _mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static VI512 to_int(VF512 a) { return {_mm512_cvtps_epi32(a.v)}; }  // exact: a holds integers
  static VI512 bits(VF512 a) { return {_mm512_castps_si512(a.v)}; }
  static VF512 from_bits(VI512 a) { return _mm512_castsi512_ps(a.v); }
  static VI512 less(VF512 a, VF512 b) {  // 1 where a < b, else 0
    return {_mm512_maskz_mov_epi32(_mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ), _mm512_set1_epi32(1))};
  }
  static VF512 select(VI512 m, VF512 a, VF512 b) {  // a where m != 0, else b
    return _mm512_mask_blend_ps(_mm512_test_epi32_mask(m.v, m.v), b.v, a.v);
  }
  static VF512 xor_bits(VF512 a, VI512 m) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a.v), m.v)); }
  // out[4 l + j] = z[j][l]: a 4 x 4 transpose of 4-float groups.
  static void store_blocks(float* out, const VF512* z) {
    const __m512 a = _mm512_unpacklo_ps(z[0].v, z[1].v), b = _mm512_unpackhi_ps(z[0].v, z[1].v);
    const __m512 c = _mm512_unpacklo_ps(z[2].v, z[3].v), d = _mm512_unpackhi_ps(z[2].v, z[3].v);
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
};
namespace avx512 {
using VF = VF512;
using VI = VI512;
}  // namespace avx512
#define DDPM_GAUSS_NS avx512
#include "gaussian_body.inc"
#undef DDPM_GAUSS_NS
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
// ---- AVX2: 8 lanes ---------------------------------------------------------
struct VI256 {
  __m256i v;
  static VI256 set1(uint32_t x) { return {_mm256_set1_epi32(static_cast<int>(x))}; }
  static VI256 iota(uint32_t base) {
    return {_mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(base)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))};
  }
  static VI256 add(VI256 a, VI256 b) { return {_mm256_add_epi32(a.v, b.v)}; }
  static VI256 sub(VI256 a, VI256 b) { return {_mm256_sub_epi32(a.v, b.v)}; }
  static VI256 and_(VI256 a, VI256 b) { return {_mm256_and_si256(a.v, b.v)}; }
  static VI256 or_(VI256 a, VI256 b) { return {_mm256_or_si256(a.v, b.v)}; }
  static VI256 xor_(VI256 a, VI256 b) { return {_mm256_xor_si256(a.v, b.v)}; }
  template <int N>
  static VI256 srli(VI256 a) { return {_mm256_srli_epi32(a.v, N)}; }
  template <int N>
  static VI256 slli(VI256 a) { return {_mm256_slli_epi32(a.v, N)}; }
  static __m256 to_float(VI256 a) { return _mm256_cvtepi32_ps(a.v); }
  static void mulhilo(VI256 a, VI256 m, VI256& hi, VI256& lo) {
    const __m256i even = _mm256_mul_epu32(a.v, m.v);
    const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a.v, 32), m.v);
    lo.v = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
    hi.v = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
  }
};
struct VF256 {
  __m256 v;
  VF256() = default;
  VF256(__m256 x) : v(x) {}
  static constexpr int kLanes = 8;
  static VF256 set1(float x) { return _mm256_set1_ps(x); }
  static VF256 add(VF256 a, VF256 b) { return _mm256_add_ps(a.v, b.v); }
  static VF256 sub(VF256 a, VF256 b) { return _mm256_sub_ps(a.v, b.v); }
  static VF256 mul(VF256 a, VF256 b) { return _mm256_mul_ps(a.v, b.v); }
  static VF256 fma(VF256 a, VF256 b, VF256 c) { return _mm256_fmadd_ps(a.v, b.v, c.v); }
  static VF256 sqrt(VF256 a) { return _mm256_sqrt_ps(a.v); }
  static VF256 round_nearest(VF256 a) { return _mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static VI256 to_int(VF256 a) { return {_mm256_cvtps_epi32(a.v)}; }
  static VI256 bits(VF256 a) { return {_mm256_castps_si256(a.v)}; }
  static VF256 from_bits(VI256 a) { return _mm256_castsi256_ps(a.v); }
  static VI256 less(VF256 a, VF256 b) {
    return {_mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ)), _mm256_set1_epi32(1))};
  }
  static VF256 select(VI256 m, VF256 a, VF256 b) {  // m is 0 or 1: blendv reads bit 31
    return _mm256_blendv_ps(b.v, a.v, _mm256_castsi256_ps(_mm256_slli_epi32(m.v, 31)));
  }
  static VF256 xor_bits(VF256 a, VI256 m) { return _mm256_xor_ps(a.v, _mm256_castsi256_ps(m.v)); }
  static void store_blocks(float* out, const VF256* z) {
    const __m256 a = _mm256_unpacklo_ps(z[0].v, z[1].v), b = _mm256_unpackhi_ps(z[0].v, z[1].v);
    const __m256 c = _mm256_unpacklo_ps(z[2].v, z[3].v), d = _mm256_unpackhi_ps(z[2].v, z[3].v);
    const __m256 t0 = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(a), _mm256_castps_pd(c)));
    const __m256 t1 = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(a), _mm256_castps_pd(c)));
    const __m256 t2 = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(b), _mm256_castps_pd(d)));
    const __m256 t3 = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(b), _mm256_castps_pd(d)));
    _mm256_storeu_ps(out, _mm256_permute2f128_ps(t0, t1, 0x20));
    _mm256_storeu_ps(out + 8, _mm256_permute2f128_ps(t2, t3, 0x20));
    _mm256_storeu_ps(out + 16, _mm256_permute2f128_ps(t0, t1, 0x31));
    _mm256_storeu_ps(out + 24, _mm256_permute2f128_ps(t2, t3, 0x31));
  }
};
namespace avx2 {
using VF = VF256;
using VI = VI256;
}  // namespace avx2
#define DDPM_GAUSS_NS avx2
#include "gaussian_body.inc"
#undef DDPM_GAUSS_NS
#pragma GCC pop_options

#endif  // DDPM_X86

// Whether blocks q .. q + count - 1 share the high counter word.
bool no_carry(uint64_t q, int count) { return static_cast<uint32_t>(q) <= 0xFFFFFFFFu - static_cast<uint32_t>(count - 1); }

}  // namespace

void fill_gaussians(uint64_t seed, uint64_t stream, uint64_t first, int64_t n, float* out) {
  int64_t i = 0;
  for (; i < n && ((first + static_cast<uint64_t>(i)) & 3) != 0; ++i) out[i] = rng::gaussian_at(seed, stream, first + i);
#if defined(DDPM_X86)
  const GemmIsa isa = gemm_isa();
  if (isa >= GemmIsa::kAvx2) {
    const bool z = isa == GemmIsa::kAvx512;
    const int lanes = z ? VF512::kLanes : VF256::kLanes;
    for (; i + 4 * lanes <= n; i += 4 * lanes) {
      const uint64_t q = (first + static_cast<uint64_t>(i)) >> 2;
      if (!no_carry(q, lanes))
        blocks_scalar(seed, stream, q, lanes, out + i);
      else if (z)
        avx512::blocks(seed, stream, q, out + i);
      else
        avx2::blocks(seed, stream, q, out + i);
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
