// Fixtures the C++ tests share: a CPU backend, and the tiny UNet they train
// and differentiate in milliseconds.
#pragma once

#include <memory>

#include "ddpm/backend.h"
#include "ddpm/unet.h"

namespace ddpm {
namespace testing {

inline std::unique_ptr<Backend> cpu(int threads = 2) { return std::unique_ptr<Backend>(create_cpu_backend(threads)); }

// 3x8x8 images, base width 4, depth 2, time_dim 8, T = 50.
inline UNetConfig tiny_config() {
  UNetConfig c;
  c.in_channels = 3;
  c.height = 8;
  c.width = 8;
  c.base_width = 4;
  c.depth = 2;
  c.time_dim = 8;
  c.timesteps = 50;
  return c;
}

}  // namespace testing
}  // namespace ddpm
