// The EMA's lerp over a range, shared by ema_update (ema.cpp) and
// adam_ema_update (adam.cpp): torch's two-sided lerp ema.lerp_(params, w),
// exact at both ends, with w = ema_weight(decay).
#pragma once

#include <cmath>
#include <cstdint>

namespace ddpm {
namespace cpu {

inline void ema_lerp(float* ema, const float* params, int64_t count, float w) {
  const float one_minus_w = 1.0f - w;
  if (std::fabs(w) < 0.5f) {
    for (int64_t i = 0; i < count; ++i) ema[i] = ema[i] + w * (params[i] - ema[i]);
  } else {
    for (int64_t i = 0; i < count; ++i) ema[i] = params[i] - (params[i] - ema[i]) * one_minus_w;
  }
}

}  // namespace cpu
}  // namespace ddpm
