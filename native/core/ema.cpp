// EMA constants shared by every backend's ema_update (see backend.h).
#include <algorithm>
#include <string>

#include "ddpm/backend.h"

namespace ddpm {

float ema_weight(double decay) {
  if (!(decay >= 0.0 && decay <= 1.0))
    throw Error("ema_update: decay must be in [0, 1], got " + std::to_string(decay));
  return static_cast<float>(1.0 - decay);
}

double ema_decay_at(double decay, int64_t update) {
  if (!(decay >= 0.0 && decay < 1.0)) throw Error("EMA decay must be in [0, 1), got " + std::to_string(decay));
  if (update < 0) throw Error("EMA update number must be >= 0, got " + std::to_string(update));
  const double u = static_cast<double>(update);
  return std::min(decay, (1.0 + u) / (10.0 + u));
}

}  // namespace ddpm
