// The EMA of the weights over the flat parameter buffer in one kernel, the
// formula of native/cpu/ema.cpp (torch's two-sided lerp). Inside a recorded
// training step the lerp weight comes from the step's scalar slot, since
// the warm-up changes it every step.
#include <cmath>

#include "common.cuh"
#include "ops.h"

namespace ddpm {
namespace cuda {

namespace {

template <int VEC>
__global__ void ema_kernel(float* __restrict__ ema, const float* __restrict__ params, size_t n, float w,
                           const StepScalars* __restrict__ sc) {
  if (sc) w = sc->ema_weight;
  const float one_minus_w = 1.0f - w;
  const bool small = fabsf(w) < 0.5f;
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  const size_t tid = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t nv = n / VEC;
  for (size_t i = tid; i < nv; i += stride) {
    float e[VEC], p[VEC];
    load_vec<VEC>(ema + i * VEC, e);
    load_vec<VEC>(params + i * VEC, p);
#pragma unroll
    for (int j = 0; j < VEC; ++j) e[j] = small ? e[j] + w * (p[j] - e[j]) : p[j] - (p[j] - e[j]) * one_minus_w;
    store_vec<VEC>(ema + i * VEC, e);
  }
  for (size_t i = nv * VEC + tid; i < n; i += stride) {
    const float e = ema[i], p = params[i];
    ema[i] = small ? e + w * (p - e) : p - (p - e) * one_minus_w;
  }
}

}  // namespace

namespace ops {

void ema_update(const Ctx& ctx, float* ema, const float* params, size_t n, double decay) {
  const float w = ema_weight(decay);
  if (n == 0) return;
  const bool v4 = aligned16(ema) && aligned16(params);
  const long long items = static_cast<long long>(v4 ? n / 4 + 1 : n);
  const int blocks = grid_for(items, kThreads, ctx, 8);
  if (v4)
    ema_kernel<4><<<blocks, kThreads, 0, ctx.stream>>>(ema, params, n, w, ctx.step_scalars);
  else
    ema_kernel<1><<<blocks, kThreads, 0, ctx.stream>>>(ema, params, n, w, ctx.step_scalars);
  check_launch("ema_update");
}

}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
