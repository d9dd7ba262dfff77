// The reverse steps through the predicted x_0 (DDIM, or the DDPM posterior
// with a clipped x_0, and the DPM-Solver++ step) and the classifier-free
// guidance mix, as native/cpu/ddim.cpp.
// The step's noise is drawn a Philox block (4 values) per thread (philox.cuh),
// exactly rng::gaussian_at per element, as reverse_step in diffusion.cu.
#include <string>

#include "common.cuh"
#include "ddpm/rng.h"
#include "ops.h"
#include "philox.cuh"

namespace ddpm {
namespace cuda {

namespace {

// x_prev may alias x_t. In a recorded step the coefficients and the noise's
// place come from `sc`.
__global__ void ddim_step_kernel(const float* x_t, const float* eps_theta, float* x_prev, long long total,
                                 long long per_sample, DdimCoefficients k, uint64_t seed, uint64_t stream,
                                 uint64_t offset, const StepScalars* __restrict__ sc) {
  if (sc) k = sc->ddim;
  step_noise_place(sc, per_sample, seed, stream, offset);
  const bool clip = k.x0_clip > 0.0f;
  for_each_with_noise(total, seed, stream, offset, k.sigma != 0.0f, [&](uint64_t i, float z) {
    const float x = x_t[i], e = eps_theta[i];
    float x0 = (x - k.sqrt_1m_abar * e) * k.inv_sqrt_abar;
    if (clip) x0 = fminf(fmaxf(x0, -k.x0_clip), k.x0_clip);
    float v = k.x0_coef * x0 + k.eps_coef * e + k.xt_coef * x;
    if (k.sigma != 0.0f) v += k.sigma * z;
    x_prev[i] = v;
  });
}

__global__ void inpaint_blend_kernel(const float* __restrict__ x0, const float* __restrict__ keep, float* __restrict__ x,
                                     long long total, long long per_sample, float a, float b, uint64_t seed,
                                     uint64_t stream, uint64_t offset, const StepScalars* __restrict__ sc) {
  if (sc) a = sc->known_a, b = sc->known_b;
  step_noise_place(sc, per_sample, seed, stream, offset);
  for_each_with_noise(total, seed, stream, offset, b != 0.0f, [&](uint64_t i, float z) {
    float known = a * x0[i];
    if (b != 0.0f) known += b * z;
    const float m = keep[i];
    x[i] = m * known + (1.0f - m) * x[i];
  });
}

// As ddim_step_kernel; x0_prev and x0_prev2 are read (second and third
// order) and moved on by the thread that owns the element.
__global__ void dpm_solver_step_kernel(const float* x_t, const float* eps_theta, float* x0_prev, float* x0_prev2,
                                       float* x_next, long long total, long long per_sample, DpmSolverCoefficients k,
                                       uint64_t seed, uint64_t stream, uint64_t offset,
                                       const StepScalars* __restrict__ sc) {
  if (sc) k = sc->dpm;
  step_noise_place(sc, per_sample, seed, stream, offset);
  const bool clip = k.x0_clip > 0.0f;
  const bool second_order = k.prev_coef != 0.0f, third_order = k.prev2_coef != 0.0f;
  for_each_with_noise(total, seed, stream, offset, k.noise != 0.0f, [&](uint64_t i, float z) {
    const float x = x_t[i], prev = x0_prev[i];
    float x0 = (x - k.sigma * eps_theta[i]) * k.inv_alpha;
    if (clip) x0 = fminf(fmaxf(x0, -k.x0_clip), k.x0_clip);
    float v = k.xt_coef * x + k.x0_coef * x0;
    if (second_order) v += k.prev_coef * prev;
    if (third_order) v += k.prev2_coef * x0_prev2[i];
    if (k.noise != 0.0f) v += k.noise * z;
    x0_prev2[i] = prev;
    x0_prev[i] = x0;
    x_next[i] = v;
  });
}

__global__ void guided_eps_kernel(const float* eps_cond, const float* eps_uncond, float* out, size_t n, float w) {
  const size_t step = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const float u = eps_uncond[i];
    out[i] = u + w * (eps_cond[i] - u);
  }
}

}  // namespace

namespace ops {

void ddim_step(const Ctx& ctx, const float* x_t, const float* eps_theta, float* x_prev, int N, size_t per_sample,
               const DdimCoefficients& k, uint64_t seed, uint64_t stream, int64_t first_index) {
  const long long total = static_cast<long long>(N) * static_cast<long long>(per_sample);
  if (total <= 0) return;
  if (first_index < 0) throw Error("cuda ddim_step: first_index must be >= 0");
  const uint64_t offset = static_cast<uint64_t>(first_index) * per_sample;
  ddim_step_kernel<<<grid_for(total / 4 + 2, kThreads, ctx), kThreads, 0, ctx.stream>>>(
      x_t, eps_theta, x_prev, total, static_cast<long long>(per_sample), k, seed, stream, offset, ctx.step_scalars);
  check_launch("ddim_step");
}

void inpaint_blend(const Ctx& ctx, const float* x0, const float* keep, float* x, int N, size_t per_sample, float a,
                   float b, uint64_t seed, uint64_t stream, int64_t first_index) {
  const long long total = static_cast<long long>(N) * static_cast<long long>(per_sample);
  if (total <= 0) return;
  if (first_index < 0) throw Error("cuda inpaint_blend: first_index must be >= 0");
  const uint64_t offset = static_cast<uint64_t>(first_index) * per_sample;
  inpaint_blend_kernel<<<grid_for(total / 4 + 2, kThreads, ctx), kThreads, 0, ctx.stream>>>(
      x0, keep, x, total, static_cast<long long>(per_sample), a, b, seed, stream, offset, ctx.step_scalars);
  check_launch("inpaint_blend");
}

void dpm_solver_step(const Ctx& ctx, const float* x_t, const float* eps_theta, float* x0_prev, float* x0_prev2,
                     float* x_next, int N, size_t per_sample, const DpmSolverCoefficients& k, uint64_t seed, uint64_t stream,
                     int64_t first_index) {
  const long long total = static_cast<long long>(N) * static_cast<long long>(per_sample);
  if (total <= 0) return;
  if (first_index < 0) throw Error("cuda dpm_solver_step: first_index must be >= 0");
  const uint64_t offset = static_cast<uint64_t>(first_index) * per_sample;
  dpm_solver_step_kernel<<<grid_for(total / 4 + 2, kThreads, ctx), kThreads, 0, ctx.stream>>>(
      x_t, eps_theta, x0_prev, x0_prev2, x_next, total, static_cast<long long>(per_sample), k, seed, stream, offset,
      ctx.step_scalars);
  check_launch("dpm_solver_step");
}

void guided_eps(const Ctx& ctx, const float* eps_cond, const float* eps_uncond, float* out, size_t n, float w) {
  if (n == 0) return;
  guided_eps_kernel<<<grid_for(static_cast<long long>(n), kThreads, ctx), kThreads, 0, ctx.stream>>>(
      eps_cond, eps_uncond, out, n, w);
  check_launch("guided_eps");
}

}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
