// Adam over the flat parameter buffer in one kernel, exactly the formula of
// native/cpu/adam.cpp (torch.optim.Adam's single-tensor path: lerp for the
// first moment, bias corrections folded into the step size and the
// denominator, computed in double on the host).
#include <cmath>
#include <string>

#include "common.cuh"
#include "ops.h"

namespace ddpm {
namespace cuda {

namespace {

__device__ __forceinline__ void adam_one(float& p, float g, float& m, float& v, const AdamConstants& k) {
  if (k.wd != 0.0f) g += k.wd * p;
  if (k.decay != 1.0f) p *= k.decay;  // AdamW
  m += k.one_minus_b1 * (g - m);
  v = v * k.b2 + k.one_minus_b2 * g * g;
  const float denom = sqrtf(v) / k.bc2_sqrt + k.eps;
  p -= k.step_size * (m / denom);
}

template <int VEC>
__global__ void adam_kernel(float* __restrict__ params, const float* __restrict__ grads, float* __restrict__ m,
                            float* __restrict__ v, size_t n, AdamConstants k, const StepScalars* __restrict__ sc) {
  if (sc) k = sc->adam;
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  const size_t tid = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t nv = n / VEC;
  for (size_t i = tid; i < nv; i += stride) {
    float p[VEC], g[VEC], mm[VEC], vv[VEC];
    load_vec<VEC>(params + i * VEC, p);
    load_vec<VEC>(grads + i * VEC, g);
    load_vec<VEC>(m + i * VEC, mm);
    load_vec<VEC>(v + i * VEC, vv);
#pragma unroll
    for (int j = 0; j < VEC; ++j) adam_one(p[j], g[j], mm[j], vv[j], k);
    store_vec<VEC>(params + i * VEC, p);
    store_vec<VEC>(m + i * VEC, mm);
    store_vec<VEC>(v + i * VEC, vv);
  }
  for (size_t i = nv * VEC + tid; i < n; i += stride) adam_one(params[i], grads[i], m[i], v[i], k);
}

}  // namespace

namespace ops {

void adam_update(const Ctx& ctx, float* params, const float* grads, float* m, float* v, size_t n,
                 const AdamParams& p) {
  const AdamConstants k = adam_constants(p);
  if (n == 0) return;
  const bool v4 = aligned16(params) && aligned16(grads) && aligned16(m) && aligned16(v);
  const long long items = static_cast<long long>(v4 ? n / 4 + 1 : n);
  const int blocks = grid_for(items, kThreads, ctx, 8);
  if (v4)
    adam_kernel<4><<<blocks, kThreads, 0, ctx.stream>>>(params, grads, m, v, n, k, ctx.step_scalars);
  else
    adam_kernel<1><<<blocks, kThreads, 0, ctx.stream>>>(params, grads, m, v, n, k, ctx.step_scalars);
  check_launch("adam_update");
}

}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
