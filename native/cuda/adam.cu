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

struct AdamCoef {
  float step_size, bc2_sqrt, one_minus_b1, one_minus_b2, b2, eps, wd;
};

__device__ __forceinline__ void adam_one(float& p, float g, float& m, float& v, const AdamCoef& k) {
  if (k.wd != 0.0f) g += k.wd * p;
  m += k.one_minus_b1 * (g - m);
  v = v * k.b2 + k.one_minus_b2 * g * g;
  const float denom = sqrtf(v) / k.bc2_sqrt + k.eps;
  p -= k.step_size * (m / denom);
}

template <int VEC>
__global__ void adam_kernel(float* __restrict__ params, const float* __restrict__ grads, float* __restrict__ m,
                            float* __restrict__ v, size_t n, AdamCoef k) {
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
  if (p.step < 1) throw Error("cuda adam_update: step must be >= 1");
  if (n == 0) return;
  const double bc1 = 1.0 - std::pow(static_cast<double>(p.beta1), static_cast<double>(p.step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(p.beta2), static_cast<double>(p.step));
  AdamCoef k;
  k.step_size = static_cast<float>(p.lr / bc1);
  k.bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  k.one_minus_b1 = 1.0f - p.beta1;
  k.one_minus_b2 = 1.0f - p.beta2;
  k.b2 = p.beta2;
  k.eps = p.eps;
  k.wd = p.weight_decay;
  const bool v4 = aligned16(params) && aligned16(grads) && aligned16(m) && aligned16(v);
  const long long items = static_cast<long long>(v4 ? n / 4 + 1 : n);
  const int blocks = grid_for(items, kThreads, ctx, 8);
  if (v4)
    adam_kernel<4><<<blocks, kThreads, 0, ctx.stream>>>(params, grads, m, v, n, k);
  else
    adam_kernel<1><<<blocks, kThreads, 0, ctx.stream>>>(params, grads, m, v, n, k);
  check_launch("adam_update");
}

}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
