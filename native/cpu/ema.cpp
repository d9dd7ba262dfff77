// The exponential moving average of the weights over one flat buffer, as
// torch's ema.lerp_(params, 1 - decay) (its two-sided lerp formula, which is
// exact at both ends). Memory-bound (3 floats move per parameter); plain
// loops the compiler vectorises. Chunks are fixed, so results never depend
// on the thread count.
#include <cmath>

#include "cpu_ops.h"

namespace ddpm {
namespace cpu {

void ema_update(ThreadPool& pool, float* ema, const float* params, size_t n, double decay) {
  const float w = ema_weight(decay);
  const float one_minus_w = 1.0f - w;
  const bool small = std::fabs(w) < 0.5f;
  pool.parallel_for(static_cast<int64_t>(n), 1 << 15, [&](int64_t a, int64_t b) {
    if (small) {
      for (int64_t i = a; i < b; ++i) ema[i] = ema[i] + w * (params[i] - ema[i]);
    } else {
      for (int64_t i = a; i < b; ++i) ema[i] = params[i] - (params[i] - ema[i]) * one_minus_w;
    }
  });
}

}  // namespace cpu
}  // namespace ddpm
