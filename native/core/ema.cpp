// EMA constants shared by every backend's ema_update (see backend.h).
#include <algorithm>
#include <cmath>
#include <string>

#include "ddpm/backend.h"

namespace ddpm {

float ema_weight(double decay) {
  if (!(decay >= 0.0 && decay <= 1.0))
    throw Error("ema_update: decay must be in [0, 1], got " + std::to_string(decay));
  return static_cast<float>(1.0 - decay);
}

double ema_decay_at(double decay, int64_t update, double power) {
  if (!(decay >= 0.0 && decay < 1.0)) throw Error("EMA decay must be in [0, 1), got " + std::to_string(decay));
  if (update < 0) throw Error("EMA update number must be >= 0, got " + std::to_string(update));
  if (!(power >= 0.0) || !std::isfinite(power)) throw Error("EMA warm-up power must be >= 0, got " + std::to_string(power));
  const double u = static_cast<double>(update);
  return std::min(decay, power > 0.0 ? 1.0 - std::pow(1.0 + u, -power) : (1.0 + u) / (10.0 + u));
}

}  // namespace ddpm
