// The reverse steps through the predicted x_0 -- the deterministic / stochastic
// DDIM step (Song et al. 2021, eq. 12), or the DDPM posterior mean with a
// clipped x_0, and the DPM-Solver++ step (Lu et al. 2022) -- and the
// classifier-free guidance mix of two noise predictions. Elementwise; the
// step's noise is the same counter-based stream layout as reverse_step, so a
// sample's result does not depend on how the batch was split.
#include <algorithm>

#include "cpu_ops.h"
#include "sampler_step.h"

namespace ddpm {
namespace cpu {

void ddim_step(ThreadPool& pool, const float* x_t, const float* eps_theta, float* x_prev, int N,
               size_t per_sample, const DdimCoefficients& k, uint64_t seed, uint64_t stream,
               int64_t first_index) {
  const bool clip = k.x0_clip > 0.0f;
  for_each_with_noise(pool, "ddim_step", N, per_sample, seed, stream, first_index, k.sigma != 0.0f,
                      [&](int64_t i, float z) {
                        const float x = x_t[i], e = eps_theta[i];
                        float x0 = (x - k.sqrt_1m_abar * e) * k.inv_sqrt_abar;
                        if (clip) x0 = std::min(std::max(x0, -k.x0_clip), k.x0_clip);
                        float v = k.x0_coef * x0 + k.eps_coef * e + k.xt_coef * x;
                        if (k.sigma != 0.0f) v += k.sigma * z;
                        x_prev[i] = v;
                      });
}

void inpaint_blend(ThreadPool& pool, const float* x0, const float* keep, float* x, int N, size_t per_sample, float a,
                   float b, uint64_t seed, uint64_t stream, int64_t first_index) {
  for_each_with_noise(pool, "inpaint_blend", N, per_sample, seed, stream, first_index, b != 0.0f,
                      [&](int64_t i, float z) {
                        float known = a * x0[i];
                        if (b != 0.0f) known += b * z;
                        const float m = keep[i];
                        x[i] = m * known + (1.0f - m) * x[i];
                      });
}

void dpm_solver_step(ThreadPool& pool, const float* x_t, const float* eps_theta, float* x0_prev, float* x0_prev2,
                     float* x_next, int N, size_t per_sample, const DpmSolverCoefficients& k, uint64_t seed, uint64_t stream,
                     int64_t first_index) {
  const bool clip = k.x0_clip > 0.0f;
  const bool second_order = k.prev_coef != 0.0f, third_order = k.prev2_coef != 0.0f;
  for_each_with_noise(pool, "dpm_solver_step", N, per_sample, seed, stream, first_index, k.noise != 0.0f,
                      [&](int64_t i, float z) {
                        const float x = x_t[i], prev = x0_prev[i];
                        float x0 = (x - k.sigma * eps_theta[i]) * k.inv_alpha;
                        if (clip) x0 = std::min(std::max(x0, -k.x0_clip), k.x0_clip);
                        float v = k.xt_coef * x + k.x0_coef * x0;
                        if (second_order) v += k.prev_coef * prev;
                        if (third_order) v += k.prev2_coef * x0_prev2[i];
                        if (k.noise != 0.0f) v += k.noise * z;
                        x0_prev2[i] = prev;
                        x0_prev[i] = x0;
                        x_next[i] = v;
                      });
}

void guided_eps(ThreadPool& pool, const float* eps_cond, const float* eps_uncond, float* out, size_t n,
                float w) {
  pool.parallel_for(static_cast<int64_t>(n), 1 << 15, [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i) {
      const float u = eps_uncond[i];
      out[i] = u + w * (eps_cond[i] - u);
    }
  });
}

}  // namespace cpu
}  // namespace ddpm
