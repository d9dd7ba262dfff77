// The element loop the sampler's steps share (reverse_step in diffusion.cpp,
// ddim_step and dpm_solver_step in ddim.cpp): f(i, z) for every element i of
// the N samples, z the step's noise of that element -- element
// first_index * per_sample + i of the (seed, stream) gaussians, the layout
// that makes a sample's noise independent of how the batch was split -- or 0
// when the step draws none.
#pragma once

#include <cstdint>
#include <string>

#include "ddpm/backend.h"
#include "gaussian.h"
#include "thread_pool.h"

namespace ddpm {
namespace cpu {

template <typename F>
void for_each_with_noise(ThreadPool& pool, const char* op, int N, size_t per_sample, uint64_t seed, uint64_t stream,
                         int64_t first_index, bool noisy, F&& f) {
  if (first_index < 0) throw Error(std::string(op) + ": first_index must be >= 0");
  const int64_t total = static_cast<int64_t>(N) * static_cast<int64_t>(per_sample);
  const uint64_t offset = static_cast<uint64_t>(first_index) * per_sample;
  pool.parallel_for(total, 1 << 14, [&](int64_t a, int64_t b) {
    if (noisy)
      for_each_gaussian(seed, stream, offset + static_cast<uint64_t>(a), b - a, [&](int64_t i, float z) { f(a + i, z); });
    else
      for (int64_t i = a; i < b; ++i) f(i, 0.0f);
  });
}

}  // namespace cpu
}  // namespace ddpm
