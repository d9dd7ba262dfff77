// BatchNorm (training and eval) fused with ReLU and an optional per-sample
// channel add after the ReLU; forward and backward. Whole channels per task
// (one, or several when they are small: grain_for):
// each (sample, channel) plane is reduced with reduce.h's fixed-lane sums,
// the plane results are added in sample order in double, so results are
// identical for any thread count.
#include <cmath>
#include <vector>

#include "cpu_ops.h"
#include "reduce.h"

namespace ddpm {
namespace cpu {
namespace {

// y = relu(x * scale + shift) + a over one plane.
void scale_shift_relu_add(const float* __restrict x, float* __restrict y, int64_t n, float scale,
                          float shift, float a) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i] * scale + shift;
    y[i] = (v > 0.0f ? v : 0.0f) + a;
  }
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

void batchnorm_relu_forward(ThreadPool& pool, const float* x, float* y, const float* gamma,
                            const float* beta, float* running_mean, float* running_var,
                            float* save_mean, float* save_invstd, const float* add, int N, int C,
                            int HW, bool training, float momentum, float eps) {
  const int64_t M = static_cast<int64_t>(N) * HW;
  if (training && M < 2) throw Error("batchnorm_relu_forward: training needs more than one value per channel");
  pool.parallel_for(C, grain_for(M), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float mean, invstd;
      if (training) {
        double sum = 0.0;
        for (int n = 0; n < N; ++n) sum += sum_floats(x + (static_cast<int64_t>(n) * C + c) * HW, HW);
        const double mu = sum / static_cast<double>(M);
        const float muf = static_cast<float>(mu);
        double sq = 0.0;
        for (int n = 0; n < N; ++n)
          sq += sum_squared_deviation(x + (static_cast<int64_t>(n) * C + c) * HW, HW, muf);
        const double var = sq / static_cast<double>(M);
        mean = muf;
        invstd = static_cast<float>(1.0 / std::sqrt(var + eps));
        save_mean[c] = mean;
        save_invstd[c] = invstd;
        const double unbiased = var * static_cast<double>(M) / static_cast<double>(M - 1);
        running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mu);
        running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] + momentum * unbiased);
      } else {
        mean = running_mean[c];
        invstd = static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps));
      }
      const float scale = gamma[c] * invstd;
      const float shift = beta[c] - mean * scale;
      for (int n = 0; n < N; ++n) {
        const int64_t base = (static_cast<int64_t>(n) * C + c) * HW;
        const float a = add ? add[static_cast<int64_t>(n) * C + c] : 0.0f;
        scale_shift_relu_add(x + base, y + base, HW, scale, shift, a);
      }
    }
  });
}

void batchnorm_relu_backward(ThreadPool& pool, const float* x, const float* dy, const float* gamma,
                             const float* beta, const float* save_mean, const float* save_invstd,
                             float* dx, float* dgamma, float* dbeta, float* dadd, int N, int C,
                             int HW) {
  const int64_t M = static_cast<int64_t>(N) * HW;
  pool.parallel_for(C, grain_for(M), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const float mean = save_mean[c], invstd = save_invstd[c];
      const float scale = gamma[c] * invstd;
      const float shift = beta[c] - mean * scale;
      double sum_g = 0.0, sum_gx = 0.0;
      for (int n = 0; n < N; ++n) {
        const int64_t base = (static_cast<int64_t>(n) * C + c) * HW;
        const PlaneGradSums s = plane_grad_sums(x + base, dy + base, HW, scale, shift, mean);
        sum_g += s.g;
        sum_gx += static_cast<double>(s.gx) * invstd;
        if (dadd) dadd[static_cast<int64_t>(n) * C + c] = s.dy;
      }
      dbeta[c] = static_cast<float>(sum_g);
      dgamma[c] = static_cast<float>(sum_gx);
      const float mg = static_cast<float>(sum_g / static_cast<double>(M));
      const float mgx = static_cast<float>(sum_gx / static_cast<double>(M));
      for (int n = 0; n < N; ++n) {
        const int64_t base = (static_cast<int64_t>(n) * C + c) * HW;
        plane_input_grad(x + base, dy + base, dx + base, HW, scale, shift, mean, invstd, mg, mgx);
      }
    }
  });
}

}  // namespace cpu
}  // namespace ddpm
