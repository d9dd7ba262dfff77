// Finite-difference gradient checks for the C++ tests.
//
// The loss is L = sum_i y_i * R_i (R random, fixed), evaluated in double from
// the float32 outputs, so dL/dy = R is what a backward receives.
//
// Per coordinate: central difference (L(v+h) - L(v-h)) / 2h against the
// analytic gradient, passing when |analytic - central| <= atol + rtol*|central|.
// Why these tolerances hold: outputs that do not depend on the perturbed
// element are recomputed bit-identically and cancel; the m outputs that do
// carry float32 rounding of about u*|y| (u = 6e-8), so the difference has
// noise of roughly u*sqrt(m)*|y||R| / h. With |y|,|R| ~ 1, m <= ~500 and
// h = 1e-2 that is ~1e-4, well inside atol = 2e-3; ops that are linear (conv,
// linear, pad/concat) or quadratic (MSE) in the perturbed input have no
// truncation error at all, and the smooth ones (BatchNorm, SiLU) an O(h^2)
// term far below rtol = 1e-2.
// Kinks (ReLU, max-pool): when the perturbation crosses a kink, the one-sided
// differences disagree; the analytic gradient must then match one of them.
#pragma once

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "testing.h"

namespace ddpm {
namespace testing {

struct GradCheckOptions {
  double h = 1e-2;
  double atol = 2e-3;
  double rtol = 1e-2;
  size_t max_coords = 0;  // 0 = every coordinate, else an evenly spread subset
};

// v: the input being checked (perturbed in place and restored);
// analytic: dL/dv from the backward; loss: recomputes L from the current inputs.
inline bool grad_check(const std::string& what, std::vector<float>& v,
                       const std::vector<float>& analytic, const std::function<double()>& loss,
                       const GradCheckOptions& opt = {}) {
  if (analytic.size() != v.size()) {
    fail(__FILE__, __LINE__, what + ": gradient size mismatch");
    return false;
  }
  const size_t n = v.size();
  const size_t stride = (opt.max_coords == 0 || opt.max_coords >= n) ? 1 : n / opt.max_coords;
  double worst = 0, worst_num = 0, worst_ana = 0;
  size_t worst_i = 0, checked = 0, kinks = 0;
  bool ok = true;
  const double f0 = loss();
  for (size_t i = 0; i < n; i += stride) {
    const float orig = v[i];
    v[i] = static_cast<float>(orig + opt.h);
    const double hp = static_cast<double>(v[i]) - orig;  // the step actually taken in float
    const double fp = loss();
    v[i] = static_cast<float>(orig - opt.h);
    const double hm = orig - static_cast<double>(v[i]);
    const double fm = loss();
    v[i] = orig;
    const double central = (fp - fm) / (hp + hm);
    const double ana = analytic[i];
    const double tol = opt.atol + opt.rtol * std::fabs(central);
    double err = std::fabs(ana - central);
    if (err > tol) {
      const double fwd = (fp - f0) / hp, bwd = (f0 - fm) / hm;
      const bool kink = std::fabs(fwd - bwd) > 2 * tol;
      const double one_sided = std::min(std::fabs(ana - fwd), std::fabs(ana - bwd));
      if (kink && one_sided <= opt.atol + opt.rtol * std::max(std::fabs(fwd), std::fabs(bwd))) {
        ++kinks;
        err = 0;
      }
    }
    if (err > tol) ok = false;
    if (err - tol > worst) {
      worst = err - tol;
      worst_i = i;
      worst_num = central;
      worst_ana = ana;
    }
    ++checked;
  }
  if (!ok) {
    char buf[256];
    std::snprintf(buf, sizeof(buf),
                  "%s: analytic gradient differs from finite differences at %zu: analytic %.7g, "
                  "numeric %.7g (checked %zu coords)",
                  what.c_str(), worst_i, worst_ana, worst_num, checked);
    fail(__FILE__, __LINE__, buf);
  }
  (void)kinks;
  return ok;
}

// sum_i y_i * R_i in double.
inline double dot(const std::vector<float>& y, const std::vector<float>& r) {
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i) s += static_cast<double>(y[i]) * r[i];
  return s;
}

}  // namespace testing
}  // namespace ddpm
