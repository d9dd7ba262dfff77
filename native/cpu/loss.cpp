// Mean squared error and its gradient in one pass. The sum is reduced in
// fixed-size chunks, then over chunks in order, in double.
#include <vector>

#include "cpu_ops.h"

namespace ddpm {
namespace cpu {

void mse_forward_backward(ThreadPool& pool, const float* pred, const float* target, float* loss,
                          float* grad, size_t n) {
  if (n == 0) throw Error("mse_forward_backward: empty input");
  const int64_t grain = 1 << 14;
  const int64_t chunks = (static_cast<int64_t>(n) + grain - 1) / grain;
  std::vector<double> partial(chunks);
  const float scale = 2.0f / static_cast<float>(n);
  pool.parallel_for(static_cast<int64_t>(n), grain, [&](int64_t a, int64_t b) {
    double s = 0.0;
    for (int64_t i = a; i < b; ++i) {
      const float d = pred[i] - target[i];
      s += static_cast<double>(d) * d;
      if (grad) grad[i] = scale * d;
    }
    partial[a / grain] = s;
  });
  double total = 0.0;
  for (double p : partial) total += p;
  loss[0] = static_cast<float>(total / static_cast<double>(n));
}

}  // namespace cpu
}  // namespace ddpm
