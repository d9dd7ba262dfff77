// Adam over the flat parameter buffer in one kernel, exactly the formula of
// native/cpu/adam.cpp (torch.optim.Adam's single-tensor path: lerp for the
// first moment, bias corrections folded into the step size and the
// denominator, computed in double on the host); adam_ema_update also moves
// the EMA of each new parameter as it is written (ema.cu's lerp, ema_lerp),
// so a step with an EMA reads the parameters once.
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

// ema.cu's lerp (torch's two-sided formula) of one EMA value toward p.
__device__ __forceinline__ float ema_lerp_one(float e, float p, float w, float one_minus_w, bool small) {
  return small ? e + w * (p - e) : p - (p - e) * one_minus_w;
}

// EMA: ema (n, nullable otherwise) follows each new parameter with lerp weight w.
template <int VEC, bool EMA>
__global__ void adam_kernel(float* __restrict__ params, const float* __restrict__ grads, float* __restrict__ m,
                            float* __restrict__ v, float* __restrict__ ema, size_t n, AdamConstants k, float w,
                            const StepScalars* __restrict__ sc) {
  if (sc) {
    k = sc->adam;
    if (EMA) w = sc->ema_weight;
  }
  const float one_minus_w = 1.0f - w;
  const bool small = fabsf(w) < 0.5f;
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
    if (EMA) {
      float e[VEC];
      load_vec<VEC>(ema + i * VEC, e);
#pragma unroll
      for (int j = 0; j < VEC; ++j) e[j] = ema_lerp_one(e[j], p[j], w, one_minus_w, small);
      store_vec<VEC>(ema + i * VEC, e);
    }
  }
  for (size_t i = nv * VEC + tid; i < n; i += stride) {
    adam_one(params[i], grads[i], m[i], v[i], k);
    if (EMA) ema[i] = ema_lerp_one(ema[i], params[i], w, one_minus_w, small);
  }
}

// One launch of adam_kernel over n values (vectorised when every buffer is 16-byte aligned).
template <bool EMA>
void launch_adam(const Ctx& ctx, float* params, const float* grads, float* m, float* v, float* ema, size_t n,
                 const AdamConstants& k, float w, const char* op) {
  const bool v4 = aligned16(params) && aligned16(grads) && aligned16(m) && aligned16(v) && (!EMA || aligned16(ema));
  const long long items = static_cast<long long>(v4 ? n / 4 + 1 : n);
  const int blocks = grid_for(items, kThreads, ctx, 8);
  if (v4)
    adam_kernel<4, EMA><<<blocks, kThreads, 0, ctx.stream>>>(params, grads, m, v, ema, n, k, w, ctx.step_scalars);
  else
    adam_kernel<1, EMA><<<blocks, kThreads, 0, ctx.stream>>>(params, grads, m, v, ema, n, k, w, ctx.step_scalars);
  check_launch(op);
}

}  // namespace

namespace ops {

void adam_update(const Ctx& ctx, float* params, const float* grads, float* m, float* v, size_t n,
                 const AdamParams& p) {
  const AdamConstants k = adam_constants(p);
  if (n == 0) return;
  launch_adam<false>(ctx, params, grads, m, v, nullptr, n, k, 0.0f, "adam_update");
}

void adam_ema_update(const Ctx& ctx, float* params, const float* grads, float* m, float* v, float* ema, size_t n,
                     const AdamParams& p, double decay) {
  const AdamConstants k = adam_constants(p);
  const float w = ema_weight(decay);
  if (n == 0) return;
  launch_adam<true>(ctx, params, grads, m, v, ema, n, k, w, "adam_ema_update");
}

}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
