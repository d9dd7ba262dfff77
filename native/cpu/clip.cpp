// Gradient clipping by the global norm (torch.nn.utils.clip_grad_norm_). The
// sum of squares is reduced in fixed-size chunks, then over chunks in order,
// in double, so the result does not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu_ops.h"

namespace ddpm {
namespace cpu {

void clip_grad_norm(ThreadPool& pool, float* grads, float* norm, size_t n, float max_norm) {
  if (!(max_norm > 0.0f)) throw Error("clip_grad_norm: max_norm must be positive");
  const int64_t grain = 1 << 14;
  const int64_t chunks = (static_cast<int64_t>(n) + grain - 1) / grain;
  std::vector<double> partial(chunks);
  pool.parallel_for(static_cast<int64_t>(n), grain, [&](int64_t a, int64_t b) {
    double s = 0.0;
    for (int64_t i = a; i < b; ++i) s += static_cast<double>(grads[i]) * grads[i];
    partial[a / grain] = s;
  });
  double total = 0.0;
  for (double p : partial) total += p;
  const float nrm = static_cast<float>(std::sqrt(total));
  norm[0] = nrm;
  const float coef = std::min(max_norm / (nrm + 1e-6f), 1.0f);
  if (coef == 1.0f) return;  // torch multiplies by 1.0f: the gradients unchanged
  pool.parallel_for(static_cast<int64_t>(n), 1 << 15, [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i) grads[i] *= coef;
  });
}

}  // namespace cpu
}  // namespace ddpm
