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

using rng::gaussian4;  // the four gaussians of a Philox block (ddpm/rng.h)

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
