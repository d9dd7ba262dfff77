// BatchNorm (training and eval) fused with ReLU and an optional per-sample
// channel add after the ReLU; forward and backward. One channel per task:
// statistics are reduced in double, in a fixed order, so results are
// identical for any thread count.
#include <cmath>
#include <vector>

#include "cpu_ops.h"

namespace ddpm {
namespace cpu {

void batchnorm_relu_forward(ThreadPool& pool, const float* x, float* y, const float* gamma,
                            const float* beta, float* running_mean, float* running_var,
                            float* save_mean, float* save_invstd, const float* add, int N, int C,
                            int HW, bool training, float momentum, float eps) {
  const int64_t M = static_cast<int64_t>(N) * HW;
  if (training && M < 2) throw Error("batchnorm_relu_forward: training needs more than one value per channel");
  pool.parallel_for(C, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float mean, invstd;
      if (training) {
        double sum = 0.0;
        for (int n = 0; n < N; ++n) {
          const float* p = x + (static_cast<int64_t>(n) * C + c) * HW;
          float s = 0.0f;
          for (int i = 0; i < HW; ++i) s += p[i];
          sum += s;
        }
        double mu = sum / static_cast<double>(M);
        double sq = 0.0;
        for (int n = 0; n < N; ++n) {
          const float* p = x + (static_cast<int64_t>(n) * C + c) * HW;
          const float muf = static_cast<float>(mu);
          float s = 0.0f;
          for (int i = 0; i < HW; ++i) {
            float d = p[i] - muf;
            s += d * d;
          }
          sq += s;
        }
        double var = sq / static_cast<double>(M);
        mean = static_cast<float>(mu);
        invstd = static_cast<float>(1.0 / std::sqrt(var + eps));
        save_mean[c] = mean;
        save_invstd[c] = invstd;
        double unbiased = var * static_cast<double>(M) / static_cast<double>(M - 1);
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
        const float* p = x + base;
        float* q = y + base;
        for (int i = 0; i < HW; ++i) {
          float v = p[i] * scale + shift;
          q[i] = (v > 0.0f ? v : 0.0f) + a;
        }
      }
    }
  });
}

void batchnorm_relu_backward(ThreadPool& pool, const float* x, const float* dy, const float* gamma,
                             const float* beta, const float* save_mean, const float* save_invstd,
                             float* dx, float* dgamma, float* dbeta, float* dadd, int N, int C,
                             int HW) {
  const int64_t M = static_cast<int64_t>(N) * HW;
  pool.parallel_for(C, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const float mean = save_mean[c], invstd = save_invstd[c];
      const float scale = gamma[c] * invstd;
      const float shift = beta[c] - mean * scale;
      double sum_g = 0.0, sum_gx = 0.0;
      for (int n = 0; n < N; ++n) {
        const int64_t base = (static_cast<int64_t>(n) * C + c) * HW;
        const float* p = x + base;
        const float* d = dy + base;
        float sg = 0.0f, sgx = 0.0f, sd = 0.0f;
        for (int i = 0; i < HW; ++i) {
          float pre = p[i] * scale + shift;
          float g = pre > 0.0f ? d[i] : 0.0f;
          sg += g;
          sgx += g * (p[i] - mean);
          sd += d[i];
        }
        sum_g += sg;
        sum_gx += static_cast<double>(sgx) * invstd;
        if (dadd) dadd[static_cast<int64_t>(n) * C + c] = sd;
      }
      dbeta[c] = static_cast<float>(sum_g);
      dgamma[c] = static_cast<float>(sum_gx);
      const float mg = static_cast<float>(sum_g / static_cast<double>(M));
      const float mgx = static_cast<float>(sum_gx / static_cast<double>(M));
      for (int n = 0; n < N; ++n) {
        const int64_t base = (static_cast<int64_t>(n) * C + c) * HW;
        const float* p = x + base;
        const float* d = dy + base;
        float* q = dx + base;
        for (int i = 0; i < HW; ++i) {
          float xhat = (p[i] - mean) * invstd;
          float pre = p[i] * scale + shift;
          float g = pre > 0.0f ? d[i] : 0.0f;
          q[i] = scale * (g - mg - xhat * mgx);
        }
      }
    }
  });
}

}  // namespace cpu
}  // namespace ddpm
