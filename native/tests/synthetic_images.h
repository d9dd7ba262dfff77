// Synthetic training images for the training-curve checks (tests and
// tools/cuda_check): smooth random colour gradients with a disc, like a toy
// CIFAR, as uint8 NCHW pixels; a pure function of (count, shape, seed).
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace ddpm {
namespace testing {

inline std::vector<uint8_t> synthetic_images(int count, int C, int H, int W, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<uint8_t> px(static_cast<size_t>(count) * C * H * W);
  for (int n = 0; n < count; ++n) {
    float base[3], grad[3], disc[3];
    for (int c = 0; c < 3; ++c) {
      base[c] = u(gen);
      grad[c] = u(gen) - 0.5f;
      disc[c] = u(gen);
    }
    const float cy = u(gen) * H, cx = u(gen) * W, r = (0.15f + 0.25f * u(gen)) * std::min(H, W);
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < H; ++i)
        for (int j = 0; j < W; ++j) {
          float v = base[c % 3] + grad[c % 3] * (static_cast<float>(i + j) / (H + W));
          if ((i - cy) * (i - cy) + (j - cx) * (j - cx) < r * r) v = disc[c % 3];
          v = std::min(std::max(v, 0.0f), 1.0f);
          px[((static_cast<size_t>(n) * C + c) * H + i) * W + j] = static_cast<uint8_t>(v * 255.0f + 0.5f);
        }
  }
  return px;
}

}  // namespace testing
}  // namespace ddpm
