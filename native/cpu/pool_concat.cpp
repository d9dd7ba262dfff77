// The UNet's glue ops: 2x2 max-pool (with the time-embedding add folded into
// its output), the up path's pad-and-concat, and the per-channel add.
// Forward and backward side by side; each task a run of (n, c) planes
// (grain_for: small planes go many to a task).
#include <cstring>

#include "cpu_ops.h"
#include "gemm.h"
#include "simd.h"

namespace ddpm {
namespace cpu {

void maxpool2x2_forward(ThreadPool& pool, const float* x, float* y, const float* add, int N, int C,
                        int H, int W) {
  const int Ho = H / 2, Wo = W / 2;
  pool.parallel_for(static_cast<int64_t>(N) * C, grain_for(int64_t(H) * W, 8), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* in = x + p * H * W;
      float* out = y + p * Ho * Wo;
      const float a = add ? add[p] : 0.0f;
      for (int i = 0; i < Ho; ++i) {
        const float* r0 = in + (2 * i) * W;
        const float* r1 = r0 + W;
        for (int j = 0; j < Wo; ++j) {
          float m = r0[2 * j];
          if (r0[2 * j + 1] > m) m = r0[2 * j + 1];
          if (r1[2 * j] > m) m = r1[2 * j];
          if (r1[2 * j + 1] > m) m = r1[2 * j + 1];
          out[i * Wo + j] = m + a;
        }
      }
    }
  });
}

namespace {

// One plane's windows, scalar: the gradient goes to the window's first
// maximum, added to what dx already holds (the skip connection's share).
void maxpool_backward_rows(const float* in, const float* g, float* out, int W, int Wo, int i, int j0) {
  for (int j = j0; j < Wo; ++j) {
    const int base = 2 * i * W + 2 * j;
    int best = base;
    if (in[base + 1] > in[best]) best = base + 1;
    if (in[base + W] > in[best]) best = base + W;
    if (in[base + W + 1] > in[best]) best = base + W + 1;
    out[best] += g[i * Wo + j];
  }
}

#ifdef DDPM_X86
// [v0 .. v15] -> ([v0 v2 .. v14], [v1 v3 .. v15])
__attribute__((target("avx2,fma"), always_inline)) inline void deinterleave(__m256 lo, __m256 hi, __m256& even,
                                                                          __m256& odd) {
  even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0))),
                                                _MM_SHUFFLE(3, 1, 2, 0)));
  odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1))),
                                               _MM_SHUFFLE(3, 1, 2, 0)));
}

// out[0..16) = out + (e, o) interleaved where the interleaved mask is set, else out untouched.
__attribute__((target("avx2,fma"), always_inline)) inline void add_interleaved(float* out, __m256 e, __m256 o,
                                                                             __m256 me, __m256 mo) {
  const __m256 ul = _mm256_unpacklo_ps(e, o), uh = _mm256_unpackhi_ps(e, o);
  const __m256 ml = _mm256_unpacklo_ps(me, mo), mh = _mm256_unpackhi_ps(me, mo);
  const __m256 lo = _mm256_loadu_ps(out), hi = _mm256_loadu_ps(out + 8);
  const __m256 mlo = _mm256_permute2f128_ps(ml, mh, 0x20), mhi = _mm256_permute2f128_ps(ml, mh, 0x31);
  _mm256_storeu_ps(out, _mm256_blendv_ps(lo, _mm256_add_ps(lo, _mm256_permute2f128_ps(ul, uh, 0x20)), mlo));
  _mm256_storeu_ps(out + 8, _mm256_blendv_ps(hi, _mm256_add_ps(hi, _mm256_permute2f128_ps(ul, uh, 0x31)), mhi));
}

// Eight windows at a time: the same first maximum (strict >, so NaN and ties as the scalar loop) and
// the same single addition per window; returns the first column left for the scalar loop.
__attribute__((target("avx2,fma"))) int maxpool_backward_row_avx2(const float* in, const float* g, float* out, int W,
                                                                  int Wo, int i) {
  int j = 0;
  for (; j + 8 <= Wo; j += 8) {
    const float* r0 = in + 2 * i * W + 2 * j;
    const float* r1 = r0 + W;
    __m256 a, b, c, d;
    deinterleave(_mm256_loadu_ps(r0), _mm256_loadu_ps(r0 + 8), a, b);
    deinterleave(_mm256_loadu_ps(r1), _mm256_loadu_ps(r1 + 8), c, d);
    const __m256 sb = _mm256_cmp_ps(b, a, _CMP_GT_OQ);
    const __m256 m1 = _mm256_blendv_ps(a, b, sb);
    const __m256 sc = _mm256_cmp_ps(c, m1, _CMP_GT_OQ);
    const __m256 m2 = _mm256_blendv_ps(m1, c, sc);
    const __m256 sd = _mm256_cmp_ps(d, m2, _CMP_GT_OQ);
    // Which one won: d if sd, else c if sc, else b if sb, else a.
    const __m256 pd = sd, pc = _mm256_andnot_ps(sd, sc);
    const __m256 pb = _mm256_andnot_ps(_mm256_or_ps(sd, sc), sb);
    const __m256 pa = _mm256_andnot_ps(_mm256_or_ps(_mm256_or_ps(sd, sc), sb), _mm256_castsi256_ps(_mm256_set1_epi32(-1)));
    const __m256 v = _mm256_loadu_ps(g + i * Wo + j);
    float* o0 = out + 2 * i * W + 2 * j;
    add_interleaved(o0, v, v, pa, pb);
    add_interleaved(o0 + W, v, v, pc, pd);
  }
  return j;
}
#endif

}  // namespace

void maxpool2x2_backward(ThreadPool& pool, const float* x, const float* dy, float* dx, float* dadd,
                         int N, int C, int H, int W) {
  const int Ho = H / 2, Wo = W / 2;
  const bool avx2 = gemm_use_avx2();
  pool.parallel_for(static_cast<int64_t>(N) * C, grain_for(int64_t(H) * W, 8), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* in = x + p * H * W;
      const float* g = dy + p * Ho * Wo;
      float* out = dx + p * H * W;
      for (int i = 0; i < Ho; ++i) {
        int j0 = 0;
#ifdef DDPM_X86
        if (avx2) j0 = maxpool_backward_row_avx2(in, g, out, W, Wo, i);
#endif
        maxpool_backward_rows(in, g, out, W, Wo, i, j0);
      }
      if (dadd) {  // the add's gradient: the plane's sum, in row order
        float sum = 0.0f;
        for (int64_t k = 0; k < static_cast<int64_t>(Ho) * Wo; ++k) sum += g[k];
        dadd[p] = sum;
      }
    }
  });
  (void)avx2;
}

void pad_concat_forward(ThreadPool& pool, const float* up, const float* skip, const float* up_bias, float* out,
                        int N, int Cu, int Hu, int Wu, int Cs, int Hs, int Ws) {
  const int top = (Hs - Hu) / 2, left = (Ws - Wu) / 2;
  const int Co = Cu + Cs;
  const int64_t plane = static_cast<int64_t>(Hs) * Ws;
  pool.parallel_for(static_cast<int64_t>(N) * Co, grain_for(plane, 8), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / Co;
      const int c = static_cast<int>(p % Co);
      float* o = out + p * plane;
      if (c < Cu) {
        const float* u = up + (n * Cu + c) * static_cast<int64_t>(Hu) * Wu;
        if (Hu == Hs && Wu == Ws) {
          std::memcpy(o, u, sizeof(float) * plane);
        } else {
          std::memset(o, 0, sizeof(float) * plane);
          for (int i = 0; i < Hu; ++i)
            std::memcpy(o + (i + top) * Ws + left, u + static_cast<int64_t>(i) * Wu,
                        sizeof(float) * Wu);
        }
        if (up_bias) {  // inside the window only: the padding stays zero
          const float b = up_bias[c];
          for (int i = 0; i < Hu; ++i) {
            float* r = o + (i + top) * Ws + left;
            for (int j = 0; j < Wu; ++j) r[j] += b;
          }
        }
      } else {
        std::memcpy(o, skip + (n * Cs + (c - Cu)) * plane, sizeof(float) * plane);
      }
    }
  });
}

void pad_concat_backward(ThreadPool& pool, const float* dout, float* dup, float* dskip, int N,
                         int Cu, int Hu, int Wu, int Cs, int Hs, int Ws) {
  const int top = (Hs - Hu) / 2, left = (Ws - Wu) / 2;
  const int Co = Cu + Cs;
  const int64_t plane = static_cast<int64_t>(Hs) * Ws;
  pool.parallel_for(static_cast<int64_t>(N) * Co, grain_for(plane, 8), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / Co;
      const int c = static_cast<int>(p % Co);
      const float* g = dout + p * plane;
      if (c < Cu) {
        if (!dup) continue;
        float* u = dup + (n * Cu + c) * static_cast<int64_t>(Hu) * Wu;
        for (int i = 0; i < Hu; ++i)
          std::memcpy(u + static_cast<int64_t>(i) * Wu, g + (i + top) * Ws + left,
                      sizeof(float) * Wu);
      } else if (dskip) {
        std::memcpy(dskip + (n * Cs + (c - Cu)) * plane, g, sizeof(float) * plane);
      }
    }
  });
}

void add_channel_forward(ThreadPool& pool, const float* x, const float* add, float* y, int N, int C,
                         int HW) {
  pool.parallel_for(static_cast<int64_t>(N) * C, grain_for(HW, 16), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float a = add[p];
      const float* in = x + p * HW;
      float* out = y + p * HW;
      for (int i = 0; i < HW; ++i) out[i] = in[i] + a;
    }
  });
}

void add_channel_backward(ThreadPool& pool, const float* dy, float* dadd, int N, int C, int HW) {
  pool.parallel_for(static_cast<int64_t>(N) * C, grain_for(HW, 16), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* g = dy + p * HW;
      float s = 0.0f;
      for (int i = 0; i < HW; ++i) s += g[i];
      dadd[p] = s;
    }
  });
}

}  // namespace cpu
}  // namespace ddpm
