// The DDPM kernels: counter-based noise, uint8 -> [-1, 1] conversion with
// flips, the forward noising q(x_t | x_0), the ancestral reverse step, clamp.
#include <algorithm>
#include <string>

#include "cpu_ops.h"
#include "ddpm/rng.h"
#include "gaussian.h"
#include "sampler_step.h"

namespace ddpm {
namespace cpu {

void gaussian(ThreadPool& pool, float* out, size_t n, uint64_t seed, uint64_t stream,
              uint64_t offset) {
  pool.parallel_for(static_cast<int64_t>(n), 1 << 14, [&](int64_t a, int64_t b) {
    fill_gaussians(seed, stream, offset + static_cast<uint64_t>(a), b - a, out + a);
  });
}

void uniform_int(ThreadPool& pool, int32_t* out, size_t n, int32_t high, uint64_t seed,
                 uint64_t stream) {
  if (high <= 0) throw Error("uniform_int: high must be positive, got " + std::to_string(high));
  (void)pool;
  for (size_t i = 0; i < n; ++i) out[i] = rng::uniform_int_at(seed, stream, i, high);
}

void images_to_float(ThreadPool& pool, const uint8_t* pixels, const uint8_t* flip, float* out,
                     int N, int C, int H, int W) {
  pool.parallel_for(static_cast<int64_t>(N) * C, 4, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const bool mirror = flip && flip[p / C];
      const uint8_t* in = pixels + p * H * W;
      float* o = out + p * H * W;
      for (int i = 0; i < H; ++i)
        for (int j = 0; j < W; ++j) {
          const int src = mirror ? (W - 1 - j) : j;
          o[i * W + j] = static_cast<float>(in[i * W + src]) / 127.5f - 1.0f;
        }
    }
  });
}

void noise_add(ThreadPool& pool, const float* x0, const float* eps, const int32_t* t,
               const float* sqrt_abar, const float* sqrt_one_minus_abar, float* xt, int N,
               size_t per_sample) {
  pool.parallel_for(N, 1, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const float a = sqrt_abar[t[n]], s = sqrt_one_minus_abar[t[n]];
      const int64_t base = n * static_cast<int64_t>(per_sample);
      for (size_t i = 0; i < per_sample; ++i) xt[base + i] = a * x0[base + i] + s * eps[base + i];
    }
  });
}

void reverse_step(ThreadPool& pool, const float* x_t, const float* eps_theta, float* x_prev, int N,
                  size_t per_sample, float c_x, float c_eps, float sigma, uint64_t seed,
                  uint64_t stream, int64_t first_index) {
  for_each_with_noise(pool, "reverse_step", N, per_sample, seed, stream, first_index, sigma != 0.0f,
                      [&](int64_t i, float z) {
                        float v = c_x * (x_t[i] - c_eps * eps_theta[i]);
                        if (sigma != 0.0f) v += sigma * z;
                        x_prev[i] = v;
                      });
}

void clamp(ThreadPool& pool, const float* x, float* out, size_t n, float lo, float hi) {
  pool.parallel_for(static_cast<int64_t>(n), 1 << 15, [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i) out[i] = std::min(std::max(x[i], lo), hi);
  });
}

}  // namespace cpu
}  // namespace ddpm
