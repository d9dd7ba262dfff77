// Adam's per-step constants, shared by every backend's kernel (see
// ddpm::AdamConstants in backend.h).
#include <cmath>
#include <string>

#include "ddpm/backend.h"

namespace ddpm {

AdamConstants adam_constants(const AdamParams& p) {
  if (p.step < 1) throw Error("adam_update: step must be >= 1, got " + std::to_string(p.step));
  const double bc1 = 1.0 - std::pow(p.beta1, static_cast<double>(p.step));
  const double bc2 = 1.0 - std::pow(p.beta2, static_cast<double>(p.step));
  AdamConstants k;
  k.step_size = static_cast<float>(p.lr / bc1);
  k.bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  k.one_minus_b1 = static_cast<float>(1.0 - p.beta1);
  k.one_minus_b2 = static_cast<float>(1.0 - p.beta2);
  k.b2 = static_cast<float>(p.beta2);
  k.eps = static_cast<float>(p.eps);
  // torch.optim.AdamW: param.mul_(1 - lr * weight_decay), the factor formed in double.
  k.wd = p.decoupled_weight_decay ? 0.0f : static_cast<float>(p.weight_decay);
  k.decay = p.decoupled_weight_decay ? static_cast<float>(1.0 - p.lr * p.weight_decay) : 1.0f;
  return k;
}

}  // namespace ddpm
