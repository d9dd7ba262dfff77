// Adam over one flat parameter buffer, exactly as torch.optim.Adam's
// single-tensor path (lerp for the first moment, bias-corrected step size).
#include <cmath>

#include "cpu_ops.h"

namespace ddpm {
namespace cpu {

void adam_update(ThreadPool& pool, float* params, const float* grads, float* m, float* v, size_t n,
                 const AdamParams& p) {
  if (p.step < 1) throw Error("adam_update: step must be >= 1");
  const double bc1 = 1.0 - std::pow(p.beta1, static_cast<double>(p.step));
  const double bc2 = 1.0 - std::pow(p.beta2, static_cast<double>(p.step));
  const float step_size = static_cast<float>(p.lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float one_minus_b1 = static_cast<float>(1.0 - p.beta1);
  const float one_minus_b2 = static_cast<float>(1.0 - p.beta2);
  const float b2 = static_cast<float>(p.beta2), eps = static_cast<float>(p.eps);
  const float wd = static_cast<float>(p.weight_decay);
  pool.parallel_for(static_cast<int64_t>(n), 1 << 15, [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i) {
      float g = grads[i];
      if (wd != 0.0f) g += wd * params[i];
      m[i] += one_minus_b1 * (g - m[i]);
      v[i] = v[i] * b2 + one_minus_b2 * g * g;
      const float denom = std::sqrt(v[i]) / bc2_sqrt + eps;
      params[i] -= step_size * (m[i] / denom);
    }
  });
}

}  // namespace cpu
}  // namespace ddpm
