// Gradient clipping by the global norm, as native/cpu/clip.cpp: the sum of
// squares in two deterministic stages (per-block partial sums in double, then
// one block adds them in order and writes the norm), then a scaling pass that
// reads the norm from device memory, so nothing waits for the device.
#include <string>

#include "common.cuh"
#include "ops.h"

namespace ddpm {
namespace cuda {

namespace {

constexpr int kClipMaxBlocks = 1024;

__global__ void sum_squares_partial_kernel(const float* __restrict__ x, size_t n, double* __restrict__ partials) {
  __shared__ double smem[32];
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  double s = 0.0;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const double v = x[i];
    s += v * v;
  }
  s = block_sum(s, smem);
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

// In a recorded step the norm's slot comes from `sc` (its address moves every step).
__global__ void norm_final_kernel(const double* __restrict__ partials, int blocks, float* __restrict__ norm,
                                  const StepScalars* __restrict__ sc) {
  if (sc) norm = sc->loss;
  __shared__ double smem[32];
  const double s = sum_partials(partials, blocks, smem);
  if (threadIdx.x == 0) norm[0] = static_cast<float>(sqrt(s));
}

__global__ void clip_scale_kernel(float* __restrict__ x, size_t n, const float* __restrict__ norm, float max_norm,
                                  const StepScalars* __restrict__ sc) {
  if (sc) norm = sc->loss;
  const float coef = fminf(max_norm / (norm[0] + 1e-6f), 1.0f);
  if (coef == 1.0f) return;
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) x[i] *= coef;
}

}  // namespace

namespace ops {

void clip_grad_norm(const Ctx& ctx, float* grads, float* norm, size_t n, float max_norm) {
  const char* op = "clip_grad_norm";
  if (!(max_norm > 0.0f)) throw Error("cuda clip_grad_norm: max_norm must be positive");
  if (n == 0) throw Error("cuda clip_grad_norm: empty input");
  const int blocks = std::min(grid_for(static_cast<long long>(n), kThreads, ctx, 8), kClipMaxBlocks);
  sum_squares_partial_kernel<<<blocks, kThreads, 0, ctx.stream>>>(grads, n, ctx.partials);
  check_launch(op);
  norm_final_kernel<<<1, kThreads, 0, ctx.stream>>>(ctx.partials, blocks, norm, ctx.step_scalars);
  check_launch(op);
  clip_scale_kernel<<<grid_for(static_cast<long long>(n), kThreads, ctx), kThreads, 0, ctx.stream>>>(
      grads, n, norm, max_norm, ctx.step_scalars);
  check_launch(op);
}

}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
