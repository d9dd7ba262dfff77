// Gaussians of a whole Philox block on the device: one philox4x32_10 call
// and two Box-Muller pairs give the four values that rng::gaussian_at
// computes one by one (diffusion.cu, ddim.cu).
#pragma once

#include <cstdint>

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

}  // namespace cuda
}  // namespace ddpm
