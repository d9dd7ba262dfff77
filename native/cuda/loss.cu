// Mean squared error and its gradient in one pass (the gradient optionally
// weighted per sample by its timestep), as native/cpu/loss.cpp.
// The loss is reduced in two deterministic stages (per-block partial sums in
// double, then one block adds them in order) and written to device memory:
// nothing waits for the device.
#include <string>

#include "common.cuh"
#include "ops.h"

namespace ddpm {
namespace cuda {

namespace {

constexpr int kMseMaxBlocks = 1024;

template <int VEC>
__global__ void mse_partial_kernel(const float* __restrict__ pred, const float* __restrict__ target,
                                   float* __restrict__ grad, size_t n, float scale, double* __restrict__ partials) {
  __shared__ double smem[32];
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  const size_t tid = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t nv = n / VEC;
  double s = 0.0;
  for (size_t i = tid; i < nv; i += stride) {
    float p[VEC], t[VEC];
    load_vec<VEC>(pred + i * VEC, p);
    load_vec<VEC>(target + i * VEC, t);
#pragma unroll
    for (int j = 0; j < VEC; ++j) {
      const float d = p[j] - t[j];
      s += static_cast<double>(d) * d;
      p[j] = scale * d;
    }
    if (grad) store_vec<VEC>(grad + i * VEC, p);
  }
  for (size_t i = nv * VEC + tid; i < n; i += stride) {  // tail (VEC = 4)
    const float d = pred[i] - target[i];
    s += static_cast<double>(d) * d;
    if (grad) grad[i] = scale * d;
  }
  s = block_sum(s, smem);
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

__global__ void mse_final_kernel(const double* __restrict__ partials, int blocks, size_t n, float* __restrict__ loss,
                                 const StepScalars* __restrict__ sc) {
  if (sc) loss = sc->loss;
  __shared__ double smem[32];
  const double s = sum_partials(partials, blocks, smem);
  if (threadIdx.x == 0) loss[0] = static_cast<float>(s / static_cast<double>(n));
}

// As mse_partial_kernel, each element's gradient weighted by its sample's
// timestep; a negative timestep is reported (and weighted as t = 0).
__global__ void mse_weighted_partial_kernel(const float* __restrict__ pred, const float* __restrict__ target,
                                            const int32_t* __restrict__ t, const float* __restrict__ weights,
                                            float* __restrict__ grad, size_t n, size_t per_sample, float scale,
                                            double* __restrict__ partials, DeviceError* err) {
  __shared__ double smem[32];
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  double s = 0.0;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const size_t sample = i / per_sample;
    int tt = t[sample];
    if (tt < 0) {
      if (i % per_sample == 0) report_error(err, kErrLossWeightIndex, static_cast<int>(sample), tt, 0);
      tt = 0;
    }
    const float d = pred[i] - target[i];
    s += static_cast<double>(d) * d;
    grad[i] = weights[tt] * (scale * d);
  }
  s = block_sum(s, smem);
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

}  // namespace

namespace ops {

void mse_forward_backward(const Ctx& ctx, const float* pred, const float* target, float* loss, float* grad,
                          size_t n) {
  const char* op = "mse_forward_backward";
  if (n == 0) throw Error("cuda mse_forward_backward: empty input");
  const float scale = 2.0f / static_cast<float>(n);
  const bool v4 = aligned16(pred) && aligned16(target) && (!grad || aligned16(grad));
  const long long items = static_cast<long long>(v4 ? n / 4 + 1 : n);
  const int blocks = std::min(grid_for(items, kThreads, ctx, 8), kMseMaxBlocks);
  if (v4)
    mse_partial_kernel<4><<<blocks, kThreads, 0, ctx.stream>>>(pred, target, grad, n, scale, ctx.partials);
  else
    mse_partial_kernel<1><<<blocks, kThreads, 0, ctx.stream>>>(pred, target, grad, n, scale, ctx.partials);
  check_launch(op);
  mse_final_kernel<<<1, kThreads, 0, ctx.stream>>>(ctx.partials, blocks, n, loss, ctx.step_scalars);
  check_launch(op);
}

void mse_weighted_forward_backward(const Ctx& ctx, const float* pred, const float* target, const int32_t* t,
                                   const float* weights, float* loss, float* grad, int N, size_t per_sample) {
  const char* op = "mse_weighted_forward_backward";
  const size_t n = static_cast<size_t>(N) * per_sample;
  if (n == 0) throw Error("cuda mse_weighted_forward_backward: empty input");
  const float scale = 2.0f / static_cast<float>(n);
  const int blocks = std::min(grid_for(static_cast<long long>(n), kThreads, ctx, 8), kMseMaxBlocks);
  mse_weighted_partial_kernel<<<blocks, kThreads, 0, ctx.stream>>>(pred, target, t, weights, grad, n, per_sample, scale,
                                                                   ctx.partials, ctx.error);
  check_launch(op);
  mse_final_kernel<<<1, kThreads, 0, ctx.stream>>>(ctx.partials, blocks, n, loss, ctx.step_scalars);
  check_launch(op);
}

}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
