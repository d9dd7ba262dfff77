// The DDPM kernels, as native/cpu/diffusion.cpp: counter-based noise
// (ddpm/rng.h is __host__ __device__, so element i of (seed, stream) is the
// same bits on both backends: rng.h spells out the Box-Muller math),
// uint8 -> [-1, 1] with flips, q(x_t | x_0), the ancestral step, clamp.
//
// Gaussians are produced a Philox block (4 values) per thread: one
// philox4x32_10 call and two Box-Muller pairs instead of four calls.
#include <string>

#include "common.cuh"
#include "ddpm/rng.h"
#include "ops.h"
#include "philox.cuh"

namespace ddpm {
namespace cuda {

namespace {

// out[i] = gaussian element offset + i, for i < n.
__global__ void gaussian_kernel(float* __restrict__ out, size_t n, uint64_t seed, uint64_t stream,
                                uint64_t offset, const StepScalars* __restrict__ sc) {
  if (sc) {
    seed = sc->seed;
    stream = sc->stream;
    offset = sc->offset;
  }
  const uint64_t q0 = offset >> 2, q1 = (offset + n - 1) >> 2;
  const uint64_t quads = q1 - q0 + 1;
  const uint64_t step = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  for (uint64_t k = static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < quads; k += step) {
    const uint64_t q = q0 + k;
    float z[4];
    gaussian4(seed, stream, q, z);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint64_t g = 4 * q + j;
      if (g >= offset && g - offset < n) out[g - offset] = z[j];
    }
  }
}

__global__ void uniform_int_kernel(int32_t* __restrict__ out, size_t n, int32_t high, uint64_t seed,
                                   uint64_t stream, const StepScalars* __restrict__ sc) {
  if (sc) {
    seed = sc->seed;
    stream = sc->stream;
  }
  const size_t step = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    out[i] = rng::uniform_int_at(seed, stream, i, high);
}

__global__ void images_kernel(const uint8_t* __restrict__ pixels, const uint8_t* __restrict__ flip,
                              float* __restrict__ out, long long total, int C, int H, int W) {
  const long long step = static_cast<long long>(gridDim.x) * blockDim.x;
  const long long HW = static_cast<long long>(H) * W;
  for (long long idx = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += step) {
    const int j = static_cast<int>(idx % W);
    const long long row = idx - j;  // start of the row
    const long long p = idx / HW;   // (n, c) plane
    const bool mirror = flip && flip[p / C];
    const int src = mirror ? (W - 1 - j) : j;
    out[idx] = static_cast<float>(pixels[row + src]) * (1.0f / 127.5f) - 1.0f;
  }
}

template <int VEC>
__global__ void noise_add_kernel(const float* __restrict__ x0, const float* __restrict__ eps,
                                 const int32_t* __restrict__ t, const float* __restrict__ sqrt_abar,
                                 const float* __restrict__ sqrt_1m_abar, float* __restrict__ xt, long long total,
                                 long long per_sample, DeviceError* err) {
  const long long step = static_cast<long long>(gridDim.x) * blockDim.x;
  const long long nv = total / VEC;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < nv; i += step) {
    const long long n = (i * VEC) / per_sample;
    int tt = t[n];
    if (tt < 0) {
      if ((i * VEC) % per_sample == 0) report_error(err, kErrNoiseAddIndex, static_cast<int>(n), tt, 0);
      tt = 0;
    }
    const float a = sqrt_abar[tt], s = sqrt_1m_abar[tt];
    float x[VEC], e[VEC];
    load_vec<VEC>(x0 + i * VEC, x);
    load_vec<VEC>(eps + i * VEC, e);
#pragma unroll
    for (int j = 0; j < VEC; ++j) x[j] = a * x[j] + s * e[j];
    store_vec<VEC>(xt + i * VEC, x);
  }
}

// x_prev may alias x_t. In a recorded step the coefficients and the noise's
// place come from `sc`.
__global__ void reverse_step_kernel(const float* x_t, const float* eps_theta, float* x_prev, long long total,
                                    long long per_sample, float c_x, float c_eps, float sigma, uint64_t seed,
                                    uint64_t stream, uint64_t offset, const StepScalars* __restrict__ sc) {
  if (sc) {
    c_x = sc->c_x;
    c_eps = sc->c_eps;
    sigma = sc->sigma;
  }
  step_noise_place(sc, per_sample, seed, stream, offset);
  for_each_with_noise(total, seed, stream, offset, sigma != 0.0f, [&](uint64_t i, float z) {
    float v = c_x * (x_t[i] - c_eps * eps_theta[i]);
    if (sigma != 0.0f) v += sigma * z;
    x_prev[i] = v;
  });
}

__global__ void clamp_kernel(const float* x, float* out, size_t n, float lo, float hi) {
  const size_t step = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    float v = x[i];
    v = (v < lo) ? lo : v;  // std::max(v, lo)
    v = (hi < v) ? hi : v;  // std::min(v, hi)
    out[i] = v;
  }
}

}  // namespace

namespace ops {

void gaussian(const Ctx& ctx, float* out, size_t n, uint64_t seed, uint64_t stream, uint64_t offset) {
  if (n == 0) return;
  // The grid covers n/4 + 2 Philox blocks: enough for any offset's alignment.
  gaussian_kernel<<<grid_for(static_cast<long long>(n / 4 + 2), kThreads, ctx), kThreads, 0, ctx.stream>>>(
      out, n, seed, stream, offset, ctx.step_scalars);
  check_launch("gaussian");
}

void uniform_int(const Ctx& ctx, int32_t* out, size_t n, int32_t high, uint64_t seed, uint64_t stream) {
  if (high <= 0) throw Error("cuda uniform_int: high must be positive, got " + std::to_string(high));
  if (n == 0) return;
  uniform_int_kernel<<<grid_for(static_cast<long long>(n), kThreads, ctx), kThreads, 0, ctx.stream>>>(
      out, n, high, seed, stream, ctx.step_scalars);
  check_launch("uniform_int");
}

void images_to_float(const Ctx& ctx, const uint8_t* pixels, const uint8_t* flip, float* out, int N, int C, int H,
                     int W) {
  const long long total = static_cast<long long>(N) * C * H * W;
  if (total <= 0) return;
  images_kernel<<<grid_for(total, kThreads, ctx), kThreads, 0, ctx.stream>>>(pixels, flip, out, total, C, H, W);
  check_launch("images_to_float");
}

void noise_add(const Ctx& ctx, const float* x0, const float* eps, const int32_t* t, const float* sqrt_abar,
               const float* sqrt_one_minus_abar, float* xt, int N, size_t per_sample) {
  const long long total = static_cast<long long>(N) * static_cast<long long>(per_sample);
  if (total <= 0) return;
  const long long ps = static_cast<long long>(per_sample);
  if (ps % 4 == 0 && aligned16(x0) && aligned16(eps) && aligned16(xt))
    noise_add_kernel<4><<<grid_for(total / 4, kThreads, ctx), kThreads, 0, ctx.stream>>>(
        x0, eps, t, sqrt_abar, sqrt_one_minus_abar, xt, total, ps, ctx.error);
  else
    noise_add_kernel<1><<<grid_for(total, kThreads, ctx), kThreads, 0, ctx.stream>>>(
        x0, eps, t, sqrt_abar, sqrt_one_minus_abar, xt, total, ps, ctx.error);
  check_launch("noise_add");
}

void reverse_step(const Ctx& ctx, const float* x_t, const float* eps_theta, float* x_prev, int N,
                  size_t per_sample, float c_x, float c_eps, float sigma, uint64_t seed, uint64_t stream,
                  int64_t first_index) {
  const long long total = static_cast<long long>(N) * static_cast<long long>(per_sample);
  if (total <= 0) return;
  if (first_index < 0) throw Error("cuda reverse_step: first_index must be >= 0");
  const uint64_t offset = static_cast<uint64_t>(first_index) * per_sample;
  reverse_step_kernel<<<grid_for(total / 4 + 2, kThreads, ctx), kThreads, 0, ctx.stream>>>(
      x_t, eps_theta, x_prev, total, static_cast<long long>(per_sample), c_x, c_eps, sigma, seed, stream, offset,
      ctx.step_scalars);
  check_launch("reverse_step");
}

void clamp(const Ctx& ctx, const float* x, float* out, size_t n, float lo, float hi) {
  if (n == 0) return;
  clamp_kernel<<<grid_for(static_cast<long long>(n), kThreads, ctx), kThreads, 0, ctx.stream>>>(x, out, n, lo, hi);
  check_launch("clamp");
}

}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
