// The exponential moving average of the weights over one flat buffer, as
// torch's ema.lerp_(params, 1 - decay) (its two-sided lerp formula, which is
// exact at both ends). Memory-bound (3 floats move per parameter); plain
// loops the compiler vectorises. Chunks are fixed, so results never depend
// on the thread count.
#include "cpu_ops.h"
#include "ema.h"

namespace ddpm {
namespace cpu {

void ema_update(ThreadPool& pool, float* ema, const float* params, size_t n, double decay) {
  const float w = ema_weight(decay);
  pool.parallel_for(static_cast<int64_t>(n), 1 << 15,
                    [&](int64_t a, int64_t b) { ema_lerp(ema + a, params + a, b - a, w); });
}

}  // namespace cpu
}  // namespace ddpm
