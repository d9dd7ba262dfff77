// Gaussians of a whole Philox block on the device: one philox4x32_10 call
// and two Box-Muller pairs give the four values that rng::gaussian_at
// computes one by one (diffusion.cu, ddim.cu); and the element loop the
// sampler's steps share.
#pragma once

#include <cstdint>

#include "common.cuh"
#include "ddpm/rng.h"

namespace ddpm {
namespace cuda {

// The four gaussians of Philox block q, lane j = element 4q + j: exactly
// rng::gaussian_at for each lane.
__device__ __forceinline__ void gaussian4(uint64_t seed, uint64_t stream, uint64_t q, float (&z)[4]) {
  const rng::U4 r = rng::philox4x32_10(q, stream, seed);
#pragma unroll
  for (int pair = 0; pair < 2; ++pair) {
    const float u1 = rng::to_unit(r.x[2 * pair]);
    const float u2 = rng::to_unit(r.x[2 * pair + 1]);
    const float radius = sqrtf(-2.0f * logf(u1));
    const float angle = 6.283185307179586f * u2;
    z[2 * pair] = radius * cosf(angle);
    z[2 * pair + 1] = radius * sinf(angle);
  }
}

// The elements of a sampler step (reverse_step, ddim_step, dpm_solver_step):
// f(i, z) for every i in [0, total), z = element offset + i of the (seed,
// stream) gaussians (0 when !noisy), a Philox block per thread in a
// grid-stride loop over the blocks that cover [offset, offset + total) (a
// grid of total / 4 + 2 blocks covers any offset). Each element is read and
// written by one thread, so a step's output may alias its input.
template <typename F>
__device__ __forceinline__ void for_each_with_noise(long long total, uint64_t seed, uint64_t stream, uint64_t offset,
                                                    bool noisy, F&& f) {
  const uint64_t q0 = offset >> 2, q1 = (offset + static_cast<uint64_t>(total) - 1) >> 2;
  const uint64_t quads = q1 - q0 + 1;
  const uint64_t step = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  for (uint64_t b = static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < quads; b += step) {
    const uint64_t q = q0 + b;
    float z[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (noisy) gaussian4(seed, stream, q, z);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint64_t g = 4 * q + j;
      if (g < offset || g - offset >= static_cast<uint64_t>(total)) continue;
      f(g - offset, z[j]);
    }
  }
}

// A sampler step's noise place in a recorded step (sc set): its seed, stream
// and first sample index from the step's scalar slot (step_graph.h).
__device__ __forceinline__ void step_noise_place(const StepScalars* sc, long long per_sample, uint64_t& seed,
                                                 uint64_t& stream, uint64_t& offset) {
  if (!sc) return;
  seed = sc->seed;
  stream = sc->stream;
  offset = static_cast<uint64_t>(sc->first_index) * static_cast<uint64_t>(per_sample);
}

}  // namespace cuda
}  // namespace ddpm
