// Mean squared error and its gradient in one pass (the gradient optionally
// weighted per sample by its timestep). The sum is reduced in fixed-size
// chunks, then over chunks in order, in double.
#include <string>
#include <vector>

#include "cpu_ops.h"

namespace ddpm {
namespace cpu {

namespace {

// loss[0] = mean((pred - target)^2) over n elements, reduced in fixed chunks
// and then over chunks in order, in double (identical for any thread count);
// grad(i, scale * d) is called for every element, d = pred - target, scale = 2 / n.
template <typename Grad>
void mse_reduce(ThreadPool& pool, const float* pred, const float* target, float* loss, size_t n, Grad&& grad) {
  const int64_t grain = 1 << 14;
  const int64_t chunks = (static_cast<int64_t>(n) + grain - 1) / grain;
  std::vector<double> partial(chunks);
  const float scale = 2.0f / static_cast<float>(n);
  pool.parallel_for(static_cast<int64_t>(n), grain, [&](int64_t a, int64_t b) {
    double s = 0.0;
    for (int64_t i = a; i < b; ++i) {
      const float d = pred[i] - target[i];
      s += static_cast<double>(d) * d;
      grad(i, scale * d);
    }
    partial[a / grain] = s;
  });
  double total = 0.0;
  for (double p : partial) total += p;
  loss[0] = static_cast<float>(total / static_cast<double>(n));
}

}  // namespace

void mse_forward_backward(ThreadPool& pool, const float* pred, const float* target, float* loss,
                          float* grad, size_t n) {
  if (n == 0) throw Error("mse_forward_backward: empty input");
  mse_reduce(pool, pred, target, loss, n, [&](int64_t i, float g) {
    if (grad) grad[i] = g;
  });
}

void mse_weighted_forward_backward(ThreadPool& pool, const float* pred, const float* target, const int32_t* t,
                                   const float* weights, float* loss, float* grad, int N, size_t per_sample) {
  const size_t n = static_cast<size_t>(N) * per_sample;
  if (n == 0) throw Error("mse_weighted_forward_backward: empty input");
  for (int s = 0; s < N; ++s)
    if (t[s] < 0) throw Error("mse_weighted_forward_backward: timestep " + std::to_string(t[s]) + " of sample " +
                              std::to_string(s) + " is negative");
  mse_reduce(pool, pred, target, loss, n,
             [&](int64_t i, float g) { grad[i] = weights[t[static_cast<size_t>(i) / per_sample]] * g; });
}

}  // namespace cpu
}  // namespace ddpm
