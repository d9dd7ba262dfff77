// BatchNorm (training and eval) fused with ReLU and an optional per-sample
// channel add after the ReLU; forward and backward. Runs of (sample,
// channel) planes per task, in memory order: each plane is reduced with
// reduce.h's fixed-lane sums, the plane results are added per channel in
// sample order in double, so results are identical for any thread count.
#include <cmath>
#include <vector>

#include "batchnorm_eval.h"
#include "cpu_ops.h"
#include "gemm.h"
#include "reduce.h"
#include "simd.h"

namespace ddpm {
namespace cpu {

// y = relu(x * scale + shift) + a, as one fused multiply-add, v > 0 ? v : +0
// (a maximum with +0, or a masked move: -0 and NaN become +0) and an add,
// in the scalar code and in every vector width alike: the same bits
// whichever path or tile shape runs it (batchnorm_eval.h).
namespace {

inline float bn_relu_add(float x, float scale, float shift, float a) {
  const float v = std::fma(x, scale, shift);
  return (v > 0.0f ? v : 0.0f) + a;
}

#if defined(DDPM_X86)
__attribute__((target(DDPM_AVX512), always_inline)) inline void row_avx512(const float* x, float* y, int64_t n,
                                                                          float scale, float shift, float a) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, bn_relu_add16(_mm512_loadu_ps(x + i), scale, shift, a));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(y + i, m, bn_relu_add16(_mm512_maskz_loadu_ps(m, x + i), scale, shift, a));
  }
}

__attribute__((target("avx2,fma"), always_inline)) inline void row_avx2(const float* x, float* y, int64_t n,
                                                                       float scale, float shift, float a) {
  const __m256 s = _mm256_set1_ps(scale), t = _mm256_set1_ps(shift), av = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), s, t);
    _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_max_ps(v, _mm256_setzero_ps()), av));
  }
  for (; i < n; ++i) y[i] = bn_relu_add(x[i], scale, shift, a);
}

__attribute__((target(DDPM_AVX512))) void rows_avx512(float* y, int64_t ld, int rows, int64_t len, const float* scale,
                                                      const float* shift, const float* add) {
  for (int r = 0; r < rows; ++r) row_avx512(y + r * ld, y + r * ld, len, scale[r], shift[r], add ? add[r] : 0.0f);
}

__attribute__((target("avx2,fma"))) void rows_avx2(float* y, int64_t ld, int rows, int64_t len, const float* scale,
                                                   const float* shift, const float* add) {
  for (int r = 0; r < rows; ++r) row_avx2(y + r * ld, y + r * ld, len, scale[r], shift[r], add ? add[r] : 0.0f);
}

__attribute__((target(DDPM_AVX512))) void plane_avx512(const float* x, float* y, int64_t n, float scale, float shift,
                                                       float a) {
  row_avx512(x, y, n, scale, shift, a);
}

__attribute__((target("avx2,fma"))) void plane_avx2(const float* x, float* y, int64_t n, float scale, float shift,
                                                    float a) {
  row_avx2(x, y, n, scale, shift, a);
}
#endif

}  // namespace

void scale_shift_relu_add(const float* x, float* y, int64_t n, float scale, float shift, float a) {
#if defined(DDPM_X86)
  const GemmIsa isa = gemm_isa();
  if (isa == GemmIsa::kAvx512) return plane_avx512(x, y, n, scale, shift, a);
  if (isa == GemmIsa::kAvx2) return plane_avx2(x, y, n, scale, shift, a);
#endif
  for (int64_t i = 0; i < n; ++i) y[i] = bn_relu_add(x[i], scale, shift, a);
}

void scale_shift_relu_add_rows(float* y, int64_t ld, int rows, int64_t len, const float* scale, const float* shift,
                               const float* add) {
#if defined(DDPM_X86)
  const GemmIsa isa = gemm_isa();
  if (isa == GemmIsa::kAvx512) return rows_avx512(y, ld, rows, len, scale, shift, add);
  if (isa == GemmIsa::kAvx2) return rows_avx2(y, ld, rows, len, scale, shift, add);
#endif
  for (int r = 0; r < rows; ++r)
    for (int64_t i = 0; i < len; ++i) y[r * ld + i] = bn_relu_add(y[r * ld + i], scale[r], shift[r], add ? add[r] : 0.0f);
}

namespace {

// The affine map of channel c: scale = gamma * invstd, shift = beta - mean * scale.
void affine_of(const float* gamma, const float* beta, int64_t c, float mean, float invstd, float& scale,
               float& shift) {
  scale = gamma[c] * invstd;
  shift = beta[c] - mean * scale;
}

float eval_invstd(const float* running_var, int64_t c, float eps) {
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps));
}

// Over one plane: g = dy where the ReLU passed (x * scale + shift > 0), else 0;
// returns sum g, sum g * (x - mean), and sum dy.
struct PlaneGradSums {
  float g, gx, dy;
};
PlaneGradSums plane_grad_sums(const float* __restrict x, const float* __restrict dy, int64_t n,
                              float scale, float shift, float mean) {
  float sg[kReduceLanes] = {}, sgx[kReduceLanes] = {}, sd[kReduceLanes] = {};
  int64_t i = 0;
  for (; i + kReduceLanes <= n; i += kReduceLanes)
    for (int l = 0; l < kReduceLanes; ++l) {
      const float xv = x[i + l], d = dy[i + l];
      const float g = xv * scale + shift > 0.0f ? d : 0.0f;
      sg[l] += g;
      sgx[l] += g * (xv - mean);
      sd[l] += d;
    }
  PlaneGradSums s{combine_lanes(sg), combine_lanes(sgx), combine_lanes(sd)};
  for (; i < n; ++i) {
    const float xv = x[i], d = dy[i];
    const float g = xv * scale + shift > 0.0f ? d : 0.0f;
    s.g += g;
    s.gx += g * (xv - mean);
    s.dy += d;
  }
  return s;
}

// dx = scale * (g - mg - xhat * mgx) over one plane.
void plane_input_grad(const float* __restrict x, const float* __restrict dy, float* __restrict dx,
                      int64_t n, float scale, float shift, float mean, float invstd, float mg,
                      float mgx) {
  for (int64_t i = 0; i < n; ++i) {
    const float xhat = (x[i] - mean) * invstd;
    const float g = x[i] * scale + shift > 0.0f ? dy[i] : 0.0f;
    dx[i] = scale * (g - mg - xhat * mgx);
  }
}

}  // namespace

void batchnorm_eval_affine(const float* gamma, const float* beta, const float* running_mean,
                           const float* running_var, float eps, int C, float* scale, float* shift) {
  for (int c = 0; c < C; ++c) affine_of(gamma, beta, c, running_mean[c], eval_invstd(running_var, c, eps), scale[c], shift[c]);
}

// Every pass below walks the (sample, channel) planes in memory order, a
// run of consecutive planes per task: one channel's planes lie C * HW floats
// apart, and at 32x32 each plane is exactly one 4 KiB page, where hardware
// prefetchers stop, so a walk channel by channel ran at a third of memory
// speed. Per-plane results go to [N][C] arrays and are then combined per
// channel in sample order, in double: the same sums, so the same bits, as
// adding them channel by channel.

void batchnorm_relu_forward(ThreadPool& pool, const float* x, float* y, const float* gamma,
                            const float* beta, const float* conv_bias, float* running_mean, float* running_var,
                            float* save_mean, float* save_invstd, const float* add, int N, int C,
                            int HW, bool training, float momentum, float eps) {
  const int64_t M = static_cast<int64_t>(N) * HW, planes = static_cast<int64_t>(N) * C;
  if (training && M < 2) throw Error("batchnorm_relu_forward: training needs more than one value per channel");
  std::vector<float> scale(C), shift(C);
  if (training) {
    std::vector<float> plane(planes), mean(C);
    std::vector<double> mu(C);  // the running mean takes the batch mean unrounded
    pool.parallel_for(planes, grain_for(HW), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) plane[p] = sum_floats(x + p * HW, HW);
    });
    for (int c = 0; c < C; ++c) {
      double sum = 0.0;
      for (int n = 0; n < N; ++n) sum += plane[static_cast<int64_t>(n) * C + c];
      mu[c] = sum / static_cast<double>(M);
      mean[c] = static_cast<float>(mu[c]);
    }
    pool.parallel_for(planes, grain_for(HW), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) plane[p] = sum_squared_deviation(x + p * HW, HW, mean[p % C]);
    });
    for (int c = 0; c < C; ++c) {
      double sum = 0.0;
      for (int n = 0; n < N; ++n) sum += plane[static_cast<int64_t>(n) * C + c];
      const double var = sum / static_cast<double>(M);
      const float invstd = static_cast<float>(1.0 / std::sqrt(var + eps));
      save_mean[c] = mean[c];
      save_invstd[c] = invstd;
      const double unbiased = var * static_cast<double>(M) / static_cast<double>(M - 1);
      // The batch mean of x + conv_bias: the statistics of x alone normalise it.
      const double batch_mean = conv_bias ? mu[c] + static_cast<double>(conv_bias[c]) : mu[c];
      running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * batch_mean);
      running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] + momentum * unbiased);
      affine_of(gamma, beta, c, mean[c], invstd, scale[c], shift[c]);
    }
  } else {
    for (int c = 0; c < C; ++c) {
      affine_of(gamma, beta, c, running_mean[c], eval_invstd(running_var, c, eps), scale[c], shift[c]);
      if (conv_bias) shift[c] = std::fma(conv_bias[c], scale[c], shift[c]);
    }
  }
  pool.parallel_for(planes, grain_for(HW), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c = p % C;
      scale_shift_relu_add(x + p * HW, y + p * HW, HW, scale[c], shift[c], add ? add[p] : 0.0f);
    }
  });
}

void batchnorm_relu_backward(ThreadPool& pool, const float* x, const float* dy, const float* gamma,
                             const float* beta, const float* save_mean, const float* save_invstd,
                             float* dx, float* dgamma, float* dbeta, float* dconv_bias, float* dadd, int N,
                             int C, int HW) {
  const int64_t M = static_cast<int64_t>(N) * HW, planes = static_cast<int64_t>(N) * C;
  std::vector<float> scale(C), shift(C), mg(C), mgx(C);
  for (int c = 0; c < C; ++c) affine_of(gamma, beta, c, save_mean[c], save_invstd[c], scale[c], shift[c]);
  std::vector<PlaneGradSums> sums(planes);
  pool.parallel_for(planes, grain_for(HW), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c = p % C;
      sums[p] = plane_grad_sums(x + p * HW, dy + p * HW, HW, scale[c], shift[c], save_mean[c]);
      if (dadd) dadd[p] = sums[p].dy;
    }
  });
  for (int c = 0; c < C; ++c) {
    double sum_g = 0.0, sum_gx = 0.0;
    for (int n = 0; n < N; ++n) {
      const PlaneGradSums& s = sums[static_cast<int64_t>(n) * C + c];
      sum_g += s.g;
      sum_gx += static_cast<double>(s.gx) * save_invstd[c];
    }
    dbeta[c] = static_cast<float>(sum_g);
    dgamma[c] = static_cast<float>(sum_gx);
    if (dconv_bias) dconv_bias[c] = 0.0f;  // training-mode statistics cancel the bias (ops.def)
    mg[c] = static_cast<float>(sum_g / static_cast<double>(M));
    mgx[c] = static_cast<float>(sum_gx / static_cast<double>(M));
  }
  pool.parallel_for(planes, grain_for(HW), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c = p % C;
      plane_input_grad(x + p * HW, dy + p * HW, dx + p * HW, HW, scale[c], shift[c], save_mean[c], save_invstd[c],
                       mg[c], mgx[c]);
    }
  });
}

}  // namespace cpu
}  // namespace ddpm
