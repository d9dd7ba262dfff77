// The CPU's gaussians: rng::gaussian_at (ddpm/rng.h) for a run of
// consecutive elements, 16 Philox blocks at a time on AVX-512 (8 on AVX2),
// every lane computing the same IEEE operations as the scalar code, so the
// bits are those of gaussian_at whatever the instruction set, the offset or
// the length.
#pragma once

#include <cstdint>

namespace ddpm {
namespace cpu {

// out[i] = rng::gaussian_at(seed, stream, first + i) for i in [0, n).
void fill_gaussians(uint64_t seed, uint64_t stream, uint64_t first, int64_t n, float* out);

// f(i, z) for i in [0, n), z = rng::gaussian_at(seed, stream, offset + i),
// drawn a chunk at a time into a stack buffer.
template <typename F>
void for_each_gaussian(uint64_t seed, uint64_t stream, uint64_t offset, int64_t n, F&& f) {
  constexpr int64_t kChunk = 512;
  float z[kChunk];
  for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
    const int64_t len = n - i0 < kChunk ? n - i0 : kChunk;
    fill_gaussians(seed, stream, offset + static_cast<uint64_t>(i0), len, z);
    for (int64_t i = 0; i < len; ++i) f(i0 + i, z[i]);
  }
}

}  // namespace cpu
}  // namespace ddpm
