// DDIM sampling and the cosine schedule: the fused ddim_step and guided_eps
// ops against double-precision formulas, the schedules against PyTorch's
// (improved-diffusion's cosine betas, golden/schedules.safetensors) and their
// defining formulas, the DDIM coefficients and timesteps, and whole DDIM runs
// of a tiny UNet against PyTorch's DDIM update (golden/ddim_tiny.safetensors,
// eta 0 on the linear schedule and eta 0.5 with ddpm4j's noise on the cosine
// one; scripts/make_feature_goldens.py); the DPM-Solver++ step against the
// diffusers formulas in double and whole DPM-Solver++ runs against diffusers'
// own scheduler (golden/dpm_solver_tiny.safetensors).
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "ddpm/backend.h"
#include "ddpm/rng.h"
#include "ddpm/unet.h"
#include "golden_model.h"
#include "safetensors.h"
#include "fixtures.h"
#include "testing.h"

using namespace ddpm;
using namespace ddpm::testing;
using Vec = std::vector<float>;

namespace {

// x_prev of eq. 12 in double from the float coefficients' defining values.
std::vector<double> ddim_reference(const Vec& x, const Vec& e, double abar, double abar_prev, double eta,
                                   double clip, uint64_t seed, uint64_t stream, int64_t first, size_t per) {
  const double sigma = eta * std::sqrt((1 - abar_prev) / (1 - abar)) * std::sqrt(1 - abar / abar_prev);
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    double x0 = (x[i] - std::sqrt(1 - abar) * e[i]) / std::sqrt(abar);
    if (clip > 0) x0 = std::min(std::max(x0, -clip), clip);
    double v = std::sqrt(abar_prev) * x0 + std::sqrt(1 - abar_prev - sigma * sigma) * e[i];
    if (sigma > 0) v += sigma * rng::gaussian_at(seed, stream, uint64_t(first) * per + i);
    out[i] = v;
  }
  return out;
}

}  // namespace

TEST(ddim_step_matches_the_double_formula) {
  auto be = cpu();
  const Schedule s = Schedule::linear(1000, 1e-4f, 0.02f);
  const int N = 3;
  const size_t per = 35;
  Vec x = random_vector(N * per, 1, -3, 3), e = random_vector(N * per, 2, -2, 2);
  struct Case {
    int t, t_prev;
    double eta;
    float clip;
  };
  for (const Case& c : {Case{980, 960, 0.0, 0.0f}, Case{500, 480, 1.0, 0.0f}, Case{20, 0, 0.3, 0.0f},
                        Case{0, -1, 0.0, 0.0f}, Case{700, 300, 0.5, 1.0f}}) {
    const DdimCoefficients k = s.ddim(c.t, c.t_prev, c.eta, c.clip);
    Vec out(x.size());
    be->ddim_step(x.data(), e.data(), out.data(), N, per, k, 9, 1234, 2);
    const double ap = c.t_prev >= 0 ? s.alpha_bar64[c.t_prev] : 1.0;
    auto ref = ddim_reference(x, e, s.alpha_bar64[c.t], ap, c.eta, c.clip, 9, 1234, 2, per);
    // Float coefficients (one rounding each) and ~6 float operations; the
    // 1/sqrt(abar) ~ 7 at t = 980 multiplies the rounding of x - s*e.
    CHECK_CLOSE("ddim_step t=" + std::to_string(c.t) + "->" + std::to_string(c.t_prev), out.data(), ref.data(),
                out.size(), 2e-6, 2e-6);
  }
  // In place, and independent of the batch split (noise indexed by global sample).
  const DdimCoefficients k = s.ddim(500, 450, 0.7);
  Vec all(x.size()), in_place = x, tail(2 * per);
  be->ddim_step(x.data(), e.data(), all.data(), N, per, k, 3, 77, 10);
  be->ddim_step(in_place.data(), e.data(), in_place.data(), N, per, k, 3, 77, 10);
  be->ddim_step(x.data() + per, e.data() + per, tail.data(), 2, per, k, 3, 77, 11);
  CHECK(std::memcmp(all.data(), in_place.data(), all.size() * 4) == 0);
  CHECK(std::memcmp(all.data() + per, tail.data(), tail.size() * 4) == 0);
}

// The DDPM posterior form: unclipped it is reverse_step's update rewritten
// (c_x (x_t - c_eps eps) = x0_coef x0 + xt_coef x_t); clipped it is
// improved-diffusion's p_sample, against a double-precision formula.
TEST(ddpm_posterior_step_is_reverse_step_unclipped_and_clips_x0) {
  auto be = cpu();
  for (const Schedule& s : {Schedule::linear(1000, 1e-4f, 0.02f), Schedule::cosine(1000)}) {
    const int N = 2;
    const size_t per = 50;
    Vec x = random_vector(N * per, 7, -3, 3), e = random_vector(N * per, 8, -2, 2);
    for (int t : {999, 500, 1, 0}) {
      Vec a(x.size()), b(x.size()), c(x.size());
      be->reverse_step(x.data(), e.data(), a.data(), N, per, s.c_x[t], s.c_eps[t], s.sigma[t], 4, 9, 0);
      be->ddim_step(x.data(), e.data(), b.data(), N, per, s.ddpm_posterior(t, 0.0f), 4, 9, 0);
      // At t = 999 of the cosine schedule 1/sqrt(alpha) = 31.6 multiplies x_t - c_eps eps, where
      // c_eps ~ 1 cancels x_t's magnitude: the two float forms differ by ~1e-5 there.
      CHECK_CLOSE("posterior form vs reverse_step t=" + std::to_string(t), b.data(), a.data(), b.size(), 5e-5, 1e-5);
      be->ddim_step(x.data(), e.data(), c.data(), N, per, s.ddpm_posterior(t, 1.0f), 4, 9, 0);
      const double ab = s.alpha_bar64[t], ap = t > 0 ? s.alpha_bar64[t - 1] : 1.0, beta = 1 - ab / ap;
      std::vector<double> ref(x.size());
      for (size_t i = 0; i < x.size(); ++i) {
        const double x0 = std::min(1.0, std::max(-1.0, (x[i] - std::sqrt(1 - ab) * e[i]) / std::sqrt(ab)));
        double v = std::sqrt(ap) * beta / (1 - ab) * x0 + std::sqrt(1 - beta) * (1 - ap) / (1 - ab) * x[i];
        if (t > 0) v += std::sqrt(beta) * rng::gaussian_at(4, 9, i);
        ref[i] = v;
      }
      CHECK_CLOSE("clipped posterior step t=" + std::to_string(t), c.data(), ref.data(), c.size(), 2e-6, 2e-6);
    }
  }
}

TEST(ddim_coefficients_and_errors) {
  const Schedule s = Schedule::linear(1000, 1e-4f, 0.02f);
  // eta = 1 on consecutive steps is the DDPM posterior's variance beta~_t.
  const DdimCoefficients k = s.ddim(500, 499, 1.0);
  const double a = s.alpha_bar64[500], ap = s.alpha_bar64[499];
  const double beta_tilde = (1 - ap) / (1 - a) * (1 - a / ap);
  CHECK(std::fabs(k.sigma - std::sqrt(beta_tilde)) < 1e-7);
  CHECK(s.ddim(10, 5, 0.0).sigma == 0.0f);
  const DdimCoefficients last = s.ddim(0, -1, 1.0);  // to x_0: no noise, no direction
  CHECK(last.sigma == 0.0f && last.eps_coef == 0.0f && last.x0_coef == 1.0f && last.xt_coef == 0.0f);
  CHECK_THROWS(s.ddim(1000, 0, 0.0), "t = 1000");
  CHECK_THROWS(s.ddim(10, 10, 0.0), "t_prev");
  CHECK_THROWS(s.ddim(10, -2, 0.0), "t_prev");
  CHECK_THROWS(s.ddim(10, 5, -1.0), "eta");
  CHECK((ddim_timesteps(1000, 50).front() == 980 && ddim_timesteps(1000, 50).back() == 0));
  CHECK((ddim_timesteps(10, 3) == std::vector<int>{6, 3, 0}));
  CHECK(ddim_timesteps(7, 7) == (std::vector<int>{6, 5, 4, 3, 2, 1, 0}));
  CHECK_THROWS(ddim_timesteps(10, 11), "sampling steps");
  CHECK_THROWS(ddim_timesteps(10, 0), "sampling steps");
}

// DPM-Solver++ written as diffusers writes it (VE sigmas, alpha_t = 1/sqrt(s^2+1),
// sigma_t = s alpha_t, lambda = log alpha_t - log sigma_t, the 2M midpoint
// update with D1 = (m0 - m1) / r0, the 3M update with D1 = D1_0 + r0/(r0+r1)
// (D1_0 - D1_1), D2 = (D1_0 - D1_1)/(r0+r1)), in double, from the schedule's alpha_bar.
std::vector<double> dpm_reference(const Vec& x, const Vec& e, const Vec& x0_last, const Schedule& s, int t, int t_next,
                                  int t_last, bool sde, double clip, uint64_t seed, uint64_t stream, int64_t first,
                                  size_t per, const Vec* x0_last2 = nullptr, int t_last2 = -1) {
  auto alpha_sigma = [&](int u) {
    if (u < 0) return std::pair<double, double>{1.0, 0.0};
    const double ve = std::sqrt((1 - s.alpha_bar64[u]) / s.alpha_bar64[u]);
    const double al = 1 / std::sqrt(ve * ve + 1);
    return std::pair<double, double>{al, ve * al};
  };
  const auto [a0, s0] = alpha_sigma(t);
  const auto [an, sn] = alpha_sigma(t_next);
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    double m0 = (x[i] - s0 * e[i]) / a0;
    if (clip > 0) m0 = std::min(std::max(m0, -clip), clip);
    if (t_next < 0) {
      out[i] = m0;
      continue;
    }
    const double h = std::log(an / sn) - std::log(a0 / s0);
    double D = m0;
    if (t_last >= 0 && t_last2 >= 0) {
      const auto [al, sl] = alpha_sigma(t_last);
      const auto [al2, sl2] = alpha_sigma(t_last2);
      const double r0 = (std::log(a0 / s0) - std::log(al / sl)) / h, r1 = (std::log(al / sl) - std::log(al2 / sl2)) / h;
      const double m1 = x0_last[i], m2 = (*x0_last2)[i];
      const double d10 = (m0 - m1) / r0, d11 = (m1 - m2) / r1;
      const double D1 = d10 + r0 / (r0 + r1) * (d10 - d11), D2 = (d10 - d11) / (r0 + r1);
      out[i] = sn / s0 * x[i] - an * (std::exp(-h) - 1) * m0 + an * ((std::exp(-h) - 1) / h + 1) * D1 -
               an * ((std::exp(-h) - 1 + h) / (h * h) - 0.5) * D2;
      continue;
    }
    if (t_last >= 0) {
      const auto [al, sl] = alpha_sigma(t_last);
      const double r0 = (std::log(a0 / s0) - std::log(al / sl)) / h;
      D = m0 + 0.5 * (m0 - x0_last[i]) / r0;
    }
    if (!sde) {
      out[i] = sn / s0 * x[i] - an * (std::exp(-h) - 1) * D;
    } else {
      out[i] = sn / s0 * std::exp(-h) * x[i] + an * (1 - std::exp(-2 * h)) * D +
               sn * std::sqrt(1 - std::exp(-2 * h)) * rng::gaussian_at(seed, stream, uint64_t(first) * per + i);
    }
  }
  return out;
}

TEST(dpm_solver_step_matches_the_diffusers_formulas_in_double) {
  auto be = cpu();
  const int N = 3;
  const size_t per = 35;
  Vec x = random_vector(N * per, 11, -3, 3), e = random_vector(N * per, 12, -2, 2), last = random_vector(N * per, 13, -1.5, 1.5);
  const Vec last2 = random_vector(N * per, 14, -1.5, 1.5);
  struct Case {
    int t, t_next, t_last;
    bool sde;
    float clip;
    int t_last2;
  };
  for (const Schedule& s : {Schedule::linear(1000, 1e-4f, 0.02f), Schedule::cosine(1000)}) {
    for (const Case& c : {Case{999, 949, -1, false, 0.0f, -1}, Case{949, 899, 999, false, 0.0f, -1},
                          Case{500, 450, 550, true, 0.0f, -1}, Case{300, 100, 500, false, 1.0f, -1},
                          Case{50, -1, 100, false, 0.0f, -1}, Case{50, -1, 100, true, 1.0f, -1}, Case{120, 3, 700, true, 0.0f, -1},
                          Case{899, 849, 949, false, 0.0f, 999}, Case{300, 200, 450, false, 1.0f, 700}}) {
      Vec prev = last, prev2 = last2, out(x.size());
      be->dpm_solver_step(x.data(), e.data(), prev.data(), prev2.data(), out.data(), N, per,
                          s.dpm_solver(c.t, c.t_next, c.t_last, c.sde, c.clip, c.t_last2), 9, 1234, 2);
      const auto ref = dpm_reference(x, e, last, s, c.t, c.t_next, c.t_last, c.sde, c.clip, 9, 1234, 2, per, &last2, c.t_last2);
      // Float coefficients (one rounding each) and ~8 float operations; 1/alpha_t up to
      // ~160 (t = 999, linear) multiplies the rounding of x - sigma e.
      const std::string what = "dpm_solver_step t=" + std::to_string(c.t) + "->" + std::to_string(c.t_next) +
                               (c.t_last2 >= 0 ? " 3M" : c.t_last >= 0 ? " 2M" : "") + (c.sde ? " sde" : "");
      CHECK_CLOSE(what, out.data(), ref.data(), out.size(), 2e-5, 1e-5);
      // x0_prev now holds this step's x_0 prediction.
      std::vector<double> x0(x.size());
      for (size_t i = 0; i < x.size(); ++i) {
        double v = (x[i] - std::sqrt(1 - s.alpha_bar64[c.t]) * e[i]) / std::sqrt(s.alpha_bar64[c.t]);
        x0[i] = c.clip > 0 ? std::min(std::max(v, -double(c.clip)), double(c.clip)) : v;
      }
      CHECK_CLOSE(what + " x0_prev", prev.data(), x0.data(), prev.size(), 2e-5, 1e-5);
      CHECK(std::memcmp(prev2.data(), last.data(), last.size() * 4) == 0);  // x0_prev2 took the old x0_prev
    }
  }
  // In place, and independent of the batch split (noise indexed by global sample).
  const Schedule s = Schedule::linear(1000, 1e-4f, 0.02f);
  const DpmSolverCoefficients k = s.dpm_solver(500, 450, 550, true);
  Vec all(x.size()), in_place = x, tail(2 * per), p1 = last, p2 = last, p3(last.begin() + per, last.end());
  Vec q1(x.size()), q2(x.size()), q3(2 * per);
  be->dpm_solver_step(x.data(), e.data(), p1.data(), q1.data(), all.data(), N, per, k, 3, 77, 10);
  be->dpm_solver_step(in_place.data(), e.data(), p2.data(), q2.data(), in_place.data(), N, per, k, 3, 77, 10);
  be->dpm_solver_step(x.data() + per, e.data() + per, p3.data(), q3.data(), tail.data(), 2, per, k, 3, 77, 11);
  CHECK(std::memcmp(all.data(), in_place.data(), all.size() * 4) == 0);
  CHECK(std::memcmp(all.data() + per, tail.data(), tail.size() * 4) == 0);
}

TEST(dpm_solver_coefficients_timesteps_and_errors) {
  const Schedule s = Schedule::linear(1000, 1e-4f, 0.02f);
  // First order ODE is DDIM at eta 0: x' = sqrt(abar') x0 + sqrt(1 - abar') eps.
  const DpmSolverCoefficients d = s.dpm_solver(700, 300, -1, false);
  const DdimCoefficients k = s.ddim(700, 300, 0.0);
  const double a = s.alpha_bar64[700];
  // xt_coef x + x0_coef x0 with x = sqrt(a) x0 + sqrt(1-a) eps: the x0 weight
  // sqrt(a) xt + x0_coef must be sqrt(ap), the eps weight sqrt(1-a) xt sqrt(1-ap).
  CHECK(std::fabs(std::sqrt(a) * d.xt_coef + d.x0_coef - k.x0_coef) < 1e-6);
  CHECK(std::fabs(std::sqrt(1 - a) * d.xt_coef - k.eps_coef) < 1e-6);
  CHECK(d.prev_coef == 0.0f && d.noise == 0.0f);
  const DpmSolverCoefficients last = s.dpm_solver(50, -1, 100, true);  // to x_0: x0 itself, first order
  CHECK(last.xt_coef == 0.0f && last.x0_coef == 1.0f && last.prev_coef == 0.0f && last.noise == 0.0f);
  CHECK(s.dpm_solver(949, 899, 999, false).prev_coef < 0.0f);
  CHECK_THROWS(s.dpm_solver(1000, 0, -1, false), "t = 1000");
  CHECK_THROWS(s.dpm_solver(10, 10, -1, false), "t_next");
  CHECK_THROWS(s.dpm_solver(10, 5, 10, false), "t_last");
  CHECK_THROWS(s.dpm_solver(10, 5, 1000, false), "t_last");
  CHECK_THROWS(s.dpm_solver(10, 5, 20, false, 0.0f, 15), "t_last2");
  CHECK_THROWS(s.dpm_solver(10, 5, 20, true, 0.0f, 30), "third order is for the ODE");
  CHECK(s.dpm_solver(899, 849, 949, false, 0.0f, 999).prev2_coef != 0.0f);
  // diffusers' linspace spacing: numpy's linspace(0, 999, 21).round()[::-1][:-1].
  const std::vector<int> ts = dpm_solver_timesteps(1000, 20);
  CHECK(ts.size() == 20 && ts.front() == 999 && ts[1] == 949 && ts[2] == 899 && ts.back() == 50);
  CHECK((dpm_solver_timesteps(1000, 10) == std::vector<int>{999, 899, 799, 699, 599, 500, 400, 300, 200, 100}));
  CHECK((dpm_solver_timesteps(10, 2) == std::vector<int>{9, 4}));  // 4.5 rounds to even
  CHECK((dpm_solver_timesteps(10, 9) == std::vector<int>{9, 8, 7, 6, 5, 4, 3, 2, 1}));
  CHECK_THROWS(dpm_solver_timesteps(10, 10), "sampling steps");
  CHECK_THROWS(dpm_solver_timesteps(10, 0), "sampling steps");
}

// The probability-flow ODE has an exact solution for Gaussian data x_0 ~ N(0, s^2):
// x_t ~ N(0, v_t), v_t = abar_t s^2 + 1 - abar_t, the ideal noise prediction is
// eps(x, t) = sqrt(1 - abar_t) x / v_t and the flow keeps x_t / sqrt(v_t), so
// x_0 = x_T s / sqrt(v_T). On the same timesteps DDIM (eta 0) is first order (its
// error halves when the steps double) and DPM-Solver++ 2M converges faster; in
// double (python): at 20 / 40 / 80 steps DDIM is off by 0.069 / 0.036 / 0.018 for
// x_T = sqrt(v_T), DPM-Solver++ by 0.023 / 0.0018 / 0.0007 (its last step, to x_0,
// is first order).
TEST(dpm_solver_converges_faster_than_ddim_on_the_exact_gaussian_flow) {
  auto be = cpu();
  const Schedule s = Schedule::linear(1000, 1e-4f, 0.02f);
  const double s2 = 0.25;
  auto v = [&](int t) { return s.alpha_bar64[t] * s2 + 1 - s.alpha_bar64[t]; };
  const int n = 64;
  Vec x_T(n);
  std::vector<double> exact(n);
  for (int i = 0; i < n; ++i) {
    x_T[i] = float((-3.0 + 6.0 * i / (n - 1)) * std::sqrt(v(999)));
    exact[i] = x_T[i] * std::sqrt(s2 / v(999));
  }
  auto run = [&](int steps, bool dpm) {
    const std::vector<int> ts = dpm_solver_timesteps(1000, steps);
    Vec x = x_T, e(n), prev(n), prev2(n);
    for (size_t i = 0; i < ts.size(); ++i) {
      const int t = ts[i], t_next = i + 1 < ts.size() ? ts[i + 1] : -1;
      for (int j = 0; j < n; ++j) e[j] = float(std::sqrt(1 - s.alpha_bar64[t]) * x[j] / v(t));
      if (dpm)
        be->dpm_solver_step(x.data(), e.data(), prev.data(), prev2.data(), x.data(), 1, n,
                            s.dpm_solver(t, t_next, i > 0 ? ts[i - 1] : -1, false), 0, 0, 0);
      else
        be->ddim_step(x.data(), e.data(), x.data(), 1, n, s.ddim(t, t_next, 0.0), 0, 0, 0);
    }
    double err = 0;
    for (int j = 0; j < n; ++j) err = std::max(err, std::fabs(x[j] - exact[j]));
    return err;
  };
  const double ddim20 = run(20, false), ddim40 = run(40, false), dpm20 = run(20, true), dpm40 = run(40, true);
  std::printf("  max error at 20 / 40 steps: DDIM %.3g / %.3g, DPM-Solver++ %.3g / %.3g\n", ddim20, ddim40, dpm20, dpm40);
  CHECK(ddim20 / ddim40 > 1.6 && ddim20 / ddim40 < 2.5);  // first order
  CHECK(dpm20 < ddim20 / 2);
  CHECK(dpm40 < ddim40 / 10);
  CHECK(dpm20 / dpm40 > 4);
}

TEST(dpm_solver_second_order_needs_the_previous_step) {
  UNetConfig c = tiny_config();
  c.timesteps = 40;
  auto be = cpu();
  UNet net(*be, c, 2);
  net.init(3);
  net.sample_begin(2, 42, 0);
  CHECK_THROWS(net.sample_step_dpm_solver(30, 20, 39, false), "(none yet)");
  net.sample_step_dpm_solver(39, 30, -1, false);
  CHECK_THROWS(net.sample_step_dpm_solver(20, 10, 39, false), "it went from 39 to 30");
  CHECK_THROWS(net.sample_step_dpm_solver(30, 20, 38, false), "it went from 39 to 30");
  net.sample_step_dpm_solver(30, 20, 39, false);
  CHECK_THROWS(net.sample_step_dpm_solver(20, 10, 30, false, 0.0f, 38), "at t = 39");  // third order needs 39 -> 30 -> 20
  net.sample_step_dpm_solver(20, 10, 30, false, 0.0f, 39);
  net.sample_step_dpm_solver(10, -1, 20, false);
  net.sample_begin(2, 42, 0);  // a new sampling starts without a history
  CHECK_THROWS(net.sample_step_dpm_solver(20, 10, 30, false), "none yet");
}

TEST(guided_eps_matches_formula) {
  auto be = cpu();
  Vec c = random_vector(1001, 5), u = random_vector(1001, 6), out(1001);
  for (float w : {0.0f, 1.0f, 3.5f, -0.5f}) {
    be->guided_eps(c.data(), u.data(), out.data(), out.size(), w);
    std::vector<double> ref(out.size());
    for (size_t i = 0; i < ref.size(); ++i) ref[i] = double(u[i]) + double(w) * (double(c[i]) - u[i]);
    CHECK_CLOSE("guided_eps w=" + std::to_string(w), out.data(), ref.data(), out.size(), 1e-6, 1e-6);
  }
  Vec alias = u;  // out may alias an input
  be->guided_eps(c.data(), alias.data(), alias.data(), alias.size(), 3.5f);
  be->guided_eps(c.data(), u.data(), out.data(), out.size(), 3.5f);
  CHECK(std::memcmp(alias.data(), out.data(), out.size() * 4) == 0);
}

TEST(cosine_schedule_matches_formula_and_torch) {
  SafeTensors g("golden/schedules.safetensors");
  for (int T : {1000, 50}) {
    const Schedule s = Schedule::cosine(T);
    auto f = [&](double t) {
      const double c = std::cos((t / T + 0.008) / 1.008 * M_PI / 2);
      return c * c;
    };
    std::vector<double> beta(T), abar(T);
    double a = 1;
    for (int t = 0; t < T; ++t) {
      beta[t] = std::min(1 - f(t + 1) / f(t), 0.999);
      a *= 1 - beta[t];
      abar[t] = a;
    }
    const std::string p = "cosine" + std::to_string(T);
    CHECK_CLOSE(p + " betas vs formula", s.beta.data(), beta.data(), T, 0.0, 1e-7);
    CHECK_CLOSE(p + " alpha_bar64 vs formula", s.alpha_bar64.data(), abar.data(), T, 0.0, 1e-12);
    CHECK_CLOSE(p + " betas vs torch", s.beta.data(), g.at(p + ".betas").f32.data(), T, 0.0, 1e-7);
    CHECK_CLOSE(p + " alpha_bar vs torch", s.alpha_bar.data(), g.at(p + ".alphas_cumprod").f32.data(), T, 0.0, 1e-6);
    CHECK(s.beta[T - 1] == 0.999f);  // the clip
    CHECK(s.sigma[0] == 0.0f);
    // alpha_bar falls from ~1 to ~0 as the cosine does (not the linear schedule's fast drop).
    CHECK(s.alpha_bar[0] > 0.99f && s.alpha_bar[T / 2] > 0.45f && s.alpha_bar[T / 2] < 0.55f);
  }
  const Schedule lin = Schedule::linear(1000, 1e-4f, 0.02f);
  CHECK_CLOSE("linear betas vs torch", lin.beta.data(), g.at("linear1000.betas").f32.data(), 1000, 0.0, 1e-7);
  CHECK_CLOSE("linear alpha_bar vs torch", lin.alpha_bar.data(), g.at("linear1000.alphas_cumprod").f32.data(), 1000,
              0.0, 1e-6);
  UNetConfig cfg;
  cfg.schedule = kScheduleCosine;
  CHECK(Schedule::of(cfg).beta[999] == 0.999f);
  cfg.schedule = 2;
  CHECK_THROWS(validate(cfg), "schedule");
}

// Whole DDIM runs against PyTorch: the tiny UNet in eval mode, S steps from
// the same x_T. Both sides run the model in float32 (different summation
// orders, ~1e-6 relative per forward), ours the update in float32 too; the
// error is amplified by 1/sqrt(abar_t) (up to ~160 at t = 800 on the linear
// schedule) times sqrt(abar_prev), and accumulates over the steps. Measured:
// max_abs 2.3e-5 on values up to 73 (the random model's x_0 is far from
// [-1, 1]), max_rel 6e-5; the tolerance leaves 4x.
TEST(ddim_sampling_matches_torch_golden) {
  SafeTensors g("golden/ddim_tiny.safetensors");
  const UNetConfig c = golden_config(g);
  const int n = g.meta_int("batch");
  for (const std::string name : {"linear_eta0", "cosine_eta05"}) {
    UNetConfig cc = c;
    cc.schedule = name.rfind("cosine", 0) == 0 ? kScheduleCosine : kScheduleLinear;
    auto be = cpu();
    UNet net(*be, cc, n);
    load_state_dict(net, g);
    const auto& args = g.at(name + ".args").ints;
    const int steps = int(args[0]);
    const uint64_t seed = uint64_t(args[1]);
    const int64_t first = args[2];
    const double eta = g.at(name + ".eta").f32[0];
    const std::vector<int> ts = ddim_timesteps(c.timesteps, steps);
    CHECK(std::vector<int32_t>(ts.begin(), ts.end()) == ints32(g, name + ".timesteps"));
    // Start from torch's x_T (the noise of eta > 0 steps still comes from (seed, first)).
    net.sample_begin(n, seed, first);
    const Vec& xT = g.at(name + ".x_T").f32;
    net.sample_set_x(xT.data());
    Vec x(xT.size());
    for (size_t i = 0; i < ts.size(); ++i) {
      net.sample_step_ddim(ts[i], i + 1 < ts.size() ? ts[i + 1] : -1, eta);
      net.sample_read(x.data(), false);
      CHECK_CLOSE(name + " x after step " + std::to_string(i) + " (t=" + std::to_string(ts[i]) + ")", x.data(),
                  g.at(name + ".x" + std::to_string(i)).f32.data(), x.size(), 1e-4, 1e-4);
    }
  }
}

// Whole DPM-Solver++ runs of the tiny UNet against diffusers' own
// DPMSolverMultistepScheduler (golden/dpm_solver_tiny.safetensors,
// scripts/make_dpm_solver_golden.py): 2M at 20, 8 and 12 steps (linear and
// cosine schedules), the SDE variant with ddpm4j's noise, and the network read
// as a v-prediction model (the sampler's v -> eps conversion), from the same x_T,
// with the timesteps and each step's order checked too. diffusers computes in
// float32 (its alpha_bar a float32 cumprod: 1.3e-5 relative from ours at t = 999
// of the cosine schedule), ours forms the coefficients in double; the untrained
// model's x_0 prediction is huge at t = 999 (|x| up to 580 on the linear
// schedule, 6.9e4 on the cosine one), and where the update cancels such
// values the float32 difference shows as an absolute error of that order
// times the scale: the tolerance is 1e-4 relative plus 4x the measured
// sigma difference times the largest |x| of the step.
TEST(dpm_solver_sampling_matches_diffusers_golden) {
  SafeTensors g("golden/dpm_solver_tiny.safetensors");
  const UNetConfig c = golden_config(g);
  const int n = g.meta_int("batch");
  for (const std::string name :
       {"linear_20", "linear_8", "cosine_12", "linear_10_sde", "linear_10_v", "linear_20_3m", "linear_10_3m"}) {
    const bool third = name.size() > 3 && name.compare(name.size() - 3, 3, "_3m") == 0;
    UNetConfig cc = c;
    cc.schedule = name.rfind("cosine", 0) == 0 ? kScheduleCosine : kScheduleLinear;
    // linear_10_v reads the same network as a v-prediction model (prediction_type "v_prediction").
    cc.prediction = name.size() > 2 && name.compare(name.size() - 2, 2, "_v") == 0 ? kPredictV : kPredictEpsilon;
    const bool sde = name.find("sde") != std::string::npos;
    auto be = cpu();
    UNet net(*be, cc, n);
    load_state_dict(net, g);
    const auto& args = g.at(name + ".args").ints;
    const int steps = int(args[0]);
    const std::vector<int> ts = dpm_solver_timesteps(c.timesteps, steps);
    CHECK(std::vector<int32_t>(ts.begin(), ts.end()) == ints32(g, name + ".timesteps"));
    // diffusers: first order at the first step and at the last (to sigma 0), second order between.
    const std::vector<int32_t> orders = ints32(g, name + ".orders");
    // How far diffusers' float32 noise levels are from ours (its sigmas, sqrt((1 - abar) / abar),
    // are in the file): the trajectories then differ by about that fraction of their scale.
    const Schedule sched = Schedule::of(cc);
    const Vec& sig = g.at(name + ".sigmas").f32;
    double delta = 0;
    for (size_t i = 0; i < ts.size(); ++i) {
      const double a = sched.alpha_bar64[ts[i]];
      delta = std::max(delta, std::fabs(std::sqrt((1 - a) / a) / sig[i] - 1));
    }
    CHECK(sig.size() == ts.size() + 1 && sig.back() == 0.0f);
    net.sample_begin(n, uint64_t(args[1]), args[2]);
    const Vec& xT = g.at(name + ".x_T").f32;
    net.sample_set_x(xT.data());
    Vec x(xT.size());
    for (size_t i = 0; i < ts.size(); ++i) {
      const int t_next = i + 1 < ts.size() ? ts[i + 1] : -1;
      const int t_last = i > 0 ? ts[i - 1] : -1;
      // diffusers' orders: 1 at the first and the last step; 2 at the second (and, under 15 steps, the
      // second-to-last) of a third-order run; the solver's order otherwise.
      const int order = (t_last < 0 || t_next < 0) ? 1
                        : (!third || i == 1 || (ts.size() < 15 && i == ts.size() - 2)) ? 2 : 3;
      CHECK(orders[i] == order);
      net.sample_step_dpm_solver(ts[i], t_next, t_last, sde, 0.0f, order == 3 ? ts[i - 2] : -1);
      net.sample_read(x.data(), false);
      const Vec& ref = g.at(name + ".x" + std::to_string(i)).f32;
      double scale = 0;
      for (float v : ref) scale = std::max(scale, double(std::fabs(v)));
      CHECK_CLOSE(name + " x after step " + std::to_string(i) + " (t=" + std::to_string(ts[i]) + ")", x.data(),
                  ref.data(), x.size(), 1e-4 + 4 * delta * scale, 1e-4);
    }
    std::printf("  %s: %zu steps, diffusers' sigmas within %.2g of ours\n", name.c_str(), ts.size(), delta);
  }
}

// DPM-Solver++ with Karras sigmas (diffusers' use_karras_sigmas=True, "DPM++ 2M
// Karras") against diffusers' own scheduler (golden/dpm_solver_tiny.safetensors):
// 2M at 20 and 100 steps (at 100 two timesteps repeat: 1, 1), the SDE variant
// with ddpm4j's per-step noise, and 3M at 12. Checked: the Karras levels
// (karras_sigmas) against diffusers' (its sigma range is from its float32
// alpha_bar: 8.3e-5 relative apart at the small end), the rounded model
// timesteps (timestep_of_sigma), each step's order, and x after every step.
// diffusers interpolates t from float32 log sigmas; where the exact t lies
// within 1e-3 of a half-integer, its rounding may go the other way (karras_100
// has one at t = 856.49979: diffusers 857), so there either neighbour passes
// and the trajectory is driven with diffusers' timestep.
TEST(dpm_solver_karras_sampling_matches_diffusers_golden) {
  SafeTensors g("golden/dpm_solver_tiny.safetensors");
  const UNetConfig c = golden_config(g);
  const int n = g.meta_int("batch");
  const Schedule sched = Schedule::of(c);
  int near_ties = 0;
  for (const std::string name : {"karras_20", "karras_100", "karras_10_sde", "karras_12_3m"}) {
    const bool third = name.compare(name.size() - 3, 3, "_3m") == 0;
    const bool sde = name.find("sde") != std::string::npos;
    auto be = cpu();
    UNet net(*be, c, n);
    load_state_dict(net, g);
    const auto& args = g.at(name + ".args").ints;
    const int steps = int(args[0]);
    const std::vector<double> sigmas = karras_sigmas(sched, steps);
    const Vec& sig = g.at(name + ".sigmas").f32;
    const std::vector<int32_t> golden_ts = ints32(g, name + ".timesteps");
    CHECK(sigmas.size() == size_t(steps) && sig.size() == sigmas.size() + 1 && sig.back() == 0.0f);
    CHECK(golden_ts.size() == sigmas.size());
    double delta = 0;
    std::vector<double> level_delta(sigmas.size());
    for (size_t i = 0; i < sigmas.size(); ++i) {
      level_delta[i] = std::fabs(sigmas[i] / sig[i] - 1);
      delta = std::max(delta, level_delta[i]);
    }
    // Largest at the small end: diffusers' sigma_min is from its float32 alpha_bar_0 = 0.9999, whose
    // 1 - alpha_bar carries float32's 6e-8 absolute error, 1.5e-4 of sigma relative at most.
    CHECK_MSG(delta < 2e-4, name + ": Karras sigmas " + std::to_string(delta) + " from diffusers'");
    std::vector<int> ts(sigmas.size());
    for (size_t i = 0; i < sigmas.size(); ++i) {
      ts[i] = timestep_of_sigma(sched, sigmas[i]);
      if (ts[i] == golden_ts[i]) continue;
      // The exact t, interpolated in log sigma as timestep_of_sigma does before rounding.
      int low = 0;
      while (low + 2 < c.timesteps && sched.sigma_at(low + 1) <= sigmas[i]) ++low;
      const double lo = std::log(sched.sigma_at(low)), hi = std::log(sched.sigma_at(low + 1));
      const double exact = low + (lo - std::log(sigmas[i])) / (lo - hi);
      CHECK_MSG(std::abs(ts[i] - golden_ts[i]) == 1 && std::fabs(exact - std::floor(exact) - 0.5) < 1e-3,
                name + " step " + std::to_string(i) + ": timestep " + std::to_string(ts[i]) + ", diffusers " +
                    std::to_string(golden_ts[i]) + " (exact " + std::to_string(exact) + ")");
      ++near_ties;
      ts[i] = golden_ts[i];
    }
    const std::vector<int32_t> orders = ints32(g, name + ".orders");
    net.sample_begin(n, uint64_t(args[1]), args[2]);
    const Vec& xT = g.at(name + ".x_T").f32;
    net.sample_set_x(xT.data());
    Vec x(xT.size());
    const size_t S = sigmas.size();
    double worst = 0;
    for (size_t i = 0; i < S; ++i) {
      const double next = i + 1 < S ? sigmas[i + 1] : 0.0, last = i > 0 ? sigmas[i - 1] : 0.0;
      const int order = (i == 0 || i + 1 == S) ? 1 : (!third || i == 1 || (S < 15 && i == S - 2)) ? 2 : 3;
      CHECK(orders[i] == order);
      net.sample_step_dpm_solver_sigmas(ts[i], sigmas[i], next, last, sde, 0.0f, order == 3 ? sigmas[i - 2] : 0.0);
      net.sample_read(x.data(), false);
      const Vec& ref = g.at(name + ".x" + std::to_string(i)).f32;
      double scale = 0;
      for (float v : ref) scale = std::max(scale, double(std::fabs(v)));
      // The levels this step's coefficients come from: the step's own, its target's, and the earlier
      // ones of its order (the small end's larger delta then counts only where it is used).
      double step_delta = 0;
      for (size_t j = i >= 2 ? i - 2 : 0; j <= std::min(i + 1, S - 1); ++j) step_delta = std::max(step_delta, level_delta[j]);
      const auto r = ::ddpm::testing::compare(x.data(), ref.data(), x.size(), 1e-4 + 4 * step_delta * scale, 1e-4);
      worst = std::max(worst, r.max_abs / (1e-4 + 4 * step_delta * scale + 1e-4 * scale));
      CHECK_CLOSE(name + " x after step " + std::to_string(i) + " (t=" + std::to_string(ts[i]) + ")", x.data(),
                  ref.data(), x.size(), 1e-4 + 4 * step_delta * scale, 1e-4);
    }
    std::printf("  %s: %zu steps, diffusers' sigmas within %.2g of ours, worst step at %.2f of its tolerance\n",
                name.c_str(), S, delta, worst);
  }
  CHECK(near_ties == 1);  // karras_100's t = 856.49979
}

// The levels a Karras run visits, by hand: S = 1 is the largest alone; the ends are the schedule's
// extreme sigmas; sigma^(1/7) is evenly spaced; the timesteps come back where a level sits on one.
TEST(karras_sigmas_and_their_timesteps) {
  UNetConfig c = tiny_config();
  const Schedule s = Schedule::of(c);
  const int T = c.timesteps;
  const std::vector<double> one = karras_sigmas(s, 1);
  CHECK(one.size() == 1 && std::fabs(one[0] / s.sigma_at(T - 1) - 1) < 1e-14);
  const std::vector<double> k = karras_sigmas(s, 7);
  CHECK(std::fabs(k.front() / s.sigma_at(T - 1) - 1) < 1e-14 && std::fabs(k.back() / s.sigma_at(0) - 1) < 1e-14);
  for (size_t i = 1; i + 1 < k.size(); ++i) {
    const double d0 = std::pow(k[i], 1 / 7.0) - std::pow(k[i - 1], 1 / 7.0);
    const double d1 = std::pow(k[i + 1], 1 / 7.0) - std::pow(k[i], 1 / 7.0);
    CHECK(std::fabs(d1 / d0 - 1) < 1e-9);
  }
  for (int t : {0, 1, T / 2, T - 2, T - 1}) CHECK(timestep_of_sigma(s, s.sigma_at(t)) == t);
  CHECK(timestep_of_sigma(s, 0.0) == 0 && timestep_of_sigma(s, 1e9) == T - 1);
  // Halfway in log sigma between t and t + 1 rounds to the even one.
  const double mid = std::sqrt(s.sigma_at(10) * s.sigma_at(11));
  CHECK(timestep_of_sigma(s, mid) == 10);
  CHECK_THROWS(karras_sigmas(s, 0), "sampling steps must be in [1, ");
  CHECK_THROWS(karras_sigmas(s, T), "sampling steps must be in [1, ");
  // An integer-t run and a run over the same levels given as sigmas step alike (to float rounding).
  const DpmSolverCoefficients a = s.dpm_solver(30, 20, 40, false, 0.0f, 45);
  const DpmSolverCoefficients b =
      Schedule::dpm_solver_sigmas(s.sigma_at(30), s.sigma_at(20), s.sigma_at(40), false, 0.0f, s.sigma_at(45));
  for (auto [x, y] : {std::pair{a.inv_alpha, b.inv_alpha}, {a.sigma, b.sigma}, {a.xt_coef, b.xt_coef},
                      {a.x0_coef, b.x0_coef}, {a.prev_coef, b.prev_coef}, {a.prev2_coef, b.prev2_coef}})
    CHECK_MSG(std::fabs(x - y) <= 1e-6f * std::fabs(x) + 1e-7f, std::to_string(x) + " vs " + std::to_string(y));
  CHECK_THROWS(Schedule::dpm_solver_sigmas(1.0, 2.0, 0.0, false), "sigma_next = 2 must be in [0, sigma = 1)");
  CHECK_THROWS(Schedule::dpm_solver_sigmas(1.0, 0.5, 0.9, false), "sigma_last = 0.9 must be 0 or above sigma = 1");
  CHECK_THROWS(Schedule::dpm_solver_sigmas(1.0, 0.5, 2.0, true, 0.0f, 3.0), "without the SDE");
}

// v prediction end to end on the CPU. With every parameter 0 the network
// outputs exactly 0, so a training step's loss is the mean square of its
// target: for a v model v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0, with t,
// eps and x_0 drawn as train_step draws them (t from stream 4s, eps from 4s+1,
// pixels / 127.5 - 1), against the noise model's mean eps^2. And the noise
// prediction of a v model is sqrt(abar_t) v + sqrt(1 - abar_t) x_t = sqrt(1 - abar_t) x_t.
TEST(v_prediction_trains_on_v_and_predicts_the_noise_through_it) {
  const int n = 4, step = 3;
  const uint64_t seed = 17;
  for (int prediction : {int(kPredictEpsilon), int(kPredictV)}) {
    UNetConfig c = tiny_config();
    c.prediction = prediction;
    auto be = cpu();
    UNet net(*be, c, n);
    const Vec zeros(net.num_params(), 0.0f);
    net.set_params(zeros.data());
    const int64_t per = net.sample_size();
    std::vector<uint8_t> px(n * per);
    for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t((i * 37 + 11) % 256);
    AdamParams hp;
    hp.lr = 1e-3;
    net.train_step(px.data(), nullptr, n, hp, seed, step);
    float loss = 0;
    net.read_losses(&loss, step, 1);
    const Schedule s = Schedule::of(c);
    double ref = 0;
    for (int k = 0; k < n; ++k) {
      const int t = rng::uniform_int_at(seed, 4ull * step, uint64_t(k), c.timesteps);
      const double a = s.alpha_bar64[t];
      for (int64_t i = 0; i < per; ++i) {
        const double eps = rng::gaussian_at(seed, 4ull * step + 1, uint64_t(k * per + i));
        const double x0 = px[k * per + i] / 127.5 - 1.0;
        const double target = prediction == kPredictV ? std::sqrt(a) * eps - std::sqrt(1 - a) * x0 : eps;
        ref += target * target;
      }
    }
    ref /= double(n) * per;
    CHECK_MSG(std::fabs(loss - ref) <= 1e-5 * ref, std::string(prediction ? "v" : "eps") + " target: loss " +
                                                      std::to_string(loss) + ", mean square of the target " + std::to_string(ref));
    // The noise prediction of the zero network: 0 for an eps model, sqrt(1 - abar_t) x_t for a v model.
    net.set_params(zeros.data());
    Vec x = random_vector(n * per, 5), out(n * per);
    std::vector<int32_t> ts = {0, 10, 25, 49};
    net.predict_noise_host(x.data(), ts.data(), nullptr, out.data(), n);
    std::vector<double> want(n * per);
    for (int k = 0; k < n; ++k)
      for (int64_t i = 0; i < per; ++i)
        want[k * per + i] = prediction == kPredictV ? std::sqrt(1 - s.alpha_bar64[ts[k]]) * x[k * per + i] : 0.0;
    CHECK_CLOSE(std::string(prediction ? "v" : "eps") + " model's noise prediction", out.data(), want.data(), out.size(),
                1e-7, 1e-6);
  }
  UNetConfig bad = tiny_config();
  bad.prediction = 2;
  CHECK_THROWS(validate(bad), "prediction");
}

// A clipping run keeps each step's gradient norm (before clipping) in a ring,
// as the losses: the gradients Adam got have norm min(norm, max_norm).
TEST(clipped_training_keeps_the_gradient_norms) {
  UNetConfig c = tiny_config();
  auto be = cpu();
  const int n = 4;
  UNet net(*be, c, n);
  net.init(2);
  float none;
  CHECK_THROWS(net.read_grad_norms(&none, 0, 1), "clips no gradients");
  net.set_max_grad_norm(0.5);
  const int64_t per = net.sample_size();
  std::vector<uint8_t> px(n * per);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t((i * 53 + 7) % 256);
  AdamParams hp;
  hp.lr = 1e-3;
  for (int s = 0; s < 3; ++s) net.train_step(px.data(), nullptr, n, hp, 5, s);
  float norms[3];
  net.read_grad_norms(norms, 0, 3);
  Vec g(net.num_params());
  net.get_grads(g.data());
  double ss = 0;
  for (float v : g) ss += double(v) * v;
  for (float v : norms) CHECK(std::isfinite(v) && v > 0.0f);
  const double want = std::min(double(norms[2]), 0.5);
  CHECK_MSG(std::fabs(std::sqrt(ss) - want) <= 1e-5 * want, "clipped gradient norm " + std::to_string(std::sqrt(ss)) +
                                                               ", step norm " + std::to_string(norms[2]));
  CHECK_THROWS(net.read_grad_norms(norms, 3, 1), "not among");
}

TEST(ddim_sampling_is_independent_of_batch_split) {
  UNetConfig c = tiny_config();
  c.timesteps = 40;
  auto be = cpu();
  UNet net(*be, c, 4);
  net.init(3);
  const int64_t per = net.sample_size();
  auto run = [&](int n, int64_t first) {
    net.sample_begin(n, 42, first);
    const auto ts = ddim_timesteps(c.timesteps, 5);
    for (size_t i = 0; i < ts.size(); ++i) net.sample_step_ddim(ts[i], i + 1 < ts.size() ? ts[i + 1] : -1, 1.0, 1.0f);
    Vec out(n * per);
    net.sample_read(out.data(), false);
    return out;
  };
  Vec all = run(4, 0), tail = run(2, 2);
  CHECK(std::memcmp(all.data() + 2 * per, tail.data(), tail.size() * 4) == 0);
  CHECK_THROWS(net.sample_step_ddim(40, 0, 0.0), "t = 40");
}

// inpaint_blend: x = keep (a x0 + b z) + (1 - keep) x, z as reverse_step's.
TEST(inpaint_blend_matches_formula) {
  auto be = cpu();
  const int N = 3;
  const size_t per = 50;
  Vec x0 = random_vector(N * per, 1), keep = random_vector(N * per, 2), x = random_vector(N * per, 3);
  for (float& k : keep) k = std::fabs(k) > 1 ? 1.0f : std::fabs(k);
  keep[0] = 0.0f, keep[1] = 1.0f;
  for (const float b : {0.0f, 0.6f}) {
    Vec y = x;
    be->inpaint_blend(x0.data(), keep.data(), y.data(), N, per, 0.8f, b, 7, 11, 4);
    double worst = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      const double z = b != 0.0f ? rng::gaussian_at(7, 11, 4 * per + i) : 0.0;
      const double ref = keep[i] * (0.8 * x0[i] + b * z) + (1 - keep[i]) * x[i];
      worst = std::max(worst, std::fabs(y[i] - ref));
    }
    CHECK_MSG(worst < 1e-6, "b = " + std::to_string(b) + ": max |diff| " + std::to_string(worst));
    CHECK(y[0] == x[0]);  // keep 0: the sampler's own value, untouched
    if (b == 0.0f) CHECK(y[1] == 0.8f * x0[1]);
  }
}

// RePaint: where keep is 0 a step is the DDIM step; where it is 1 the last
// step (to x_0) leaves the known image exactly; sample_undo is the forward
// noising with fresh noise; the draws do not depend on the batch split.
TEST(repaint_steps_keep_the_known_pixels_and_paint_the_rest) {
  UNetConfig c = tiny_config();
  c.timesteps = 40;
  auto be = cpu();
  UNet net(*be, c, 4);
  net.init(5);
  const int n = 4;
  const int64_t per = net.sample_size();
  Vec x0 = random_vector(n * per, 8), keep(n * per, 0.0f), none(n * per, 0.0f);
  for (float& v : x0) v = std::max(-1.0f, std::min(1.0f, v));
  for (int64_t i = 0; i < n * per; ++i) keep[i] = (i / 8) % 2 ? 1.0f : 0.0f;
  const auto ts = ddim_timesteps(c.timesteps, 8);
  auto read = [&] {
    Vec out(n * per);
    net.sample_read(out.data(), false);
    return out;
  };
  // keep 0 everywhere: bit for bit DDIM (eta 0: no noise in either).
  net.sample_begin(n, 42, 0);
  for (size_t i = 0; i < ts.size(); ++i) net.sample_step_ddim(ts[i], i + 1 < ts.size() ? ts[i + 1] : -1, 0.0, 1.0f);
  const Vec ddim = read();
  net.sample_begin(n, 42, 0);
  CHECK_THROWS(net.sample_step_repaint(ts[0], ts[1], 0.0, 1.0f), "sample_set_known first");
  net.sample_set_known(x0.data(), none.data());
  for (size_t i = 0; i < ts.size(); ++i) net.sample_step_repaint(ts[i], i + 1 < ts.size() ? ts[i + 1] : -1, 0.0, 1.0f);
  CHECK(std::memcmp(read().data(), ddim.data(), ddim.size() * 4) == 0);
  // Half the pixels kept: exactly x0 there after the last step; the rest differs from x0.
  net.sample_begin(n, 42, 0);
  net.sample_set_known(x0.data(), keep.data());
  for (size_t i = 0; i < ts.size(); ++i) net.sample_step_repaint(ts[i], i + 1 < ts.size() ? ts[i + 1] : -1, 0.0, 1.0f);
  const Vec painted = read();
  int kept_exact = 0, kept = 0, free_same = 0;
  for (int64_t i = 0; i < n * per; ++i) {
    if (keep[i] == 1.0f) {
      ++kept;
      kept_exact += painted[i] == x0[i];
    } else {
      free_same += painted[i] == x0[i];
    }
  }
  CHECK_MSG(kept_exact == kept, std::to_string(kept_exact) + " of " + std::to_string(kept) + " kept pixels exact");
  CHECK(free_same == 0);
  // An undo: x = sqrt(1 - beta_s) x + sqrt(beta_s) z for s = t .. t + span - 1, draws counted on.
  const Schedule sched = Schedule::linear(c.timesteps, c.beta_start, c.beta_end);
  net.sample_begin(n, 42, 2);
  net.sample_set_x(x0.data());
  net.sample_undo(10, 3);
  const Vec undone = read();
  double worst = 0;
  for (int64_t i = 0; i < n * per; ++i) {
    double v = x0[i];
    for (int s = 10; s < 13; ++s) {
      const double z = rng::gaussian_at(42, (1ull << 63) + (2ull << 32) + uint64_t(s - 10), 2 * per + i);
      v = std::sqrt(1.0 - sched.beta[s]) * v + std::sqrt(double(sched.beta[s])) * z;
    }
    worst = std::max(worst, std::fabs(undone[i] - v));
  }
  CHECK_MSG(worst < 1e-5, "undo: max |diff| " + std::to_string(worst));
  CHECK_THROWS(net.sample_undo(38, 3), "goes outside");
  CHECK_THROWS(net.sample_undo(3, 0), "span");
  keep[3] = 1.5f;
  CHECK_THROWS(net.sample_set_known(x0.data(), keep.data()), "outside [0, 1]");
  keep[3] = 1.0f;
  // Batch split: images 2 and 3 alone come out as in the batch of 4 (noise keyed by image).
  auto repaint = [&](int m, int64_t first) {
    net.sample_begin(m, 9, first);
    net.sample_set_known(x0.data() + first * per, keep.data() + first * per);
    net.sample_step_repaint(ts[0], ts[1], 0.5, 1.0f);
    net.sample_undo(ts[1], ts[0] - ts[1]);
    for (size_t i = 0; i < ts.size(); ++i) net.sample_step_repaint(ts[i], i + 1 < ts.size() ? ts[i + 1] : -1, 0.5, 1.0f);
    Vec out(m * per);
    net.sample_read(out.data(), false);
    return out;
  };
  const Vec all = repaint(4, 0), tail = repaint(2, 2);
  CHECK(std::memcmp(all.data() + 2 * per, tail.data(), tail.size() * 4) == 0);
}

// RePaint inpainting against diffusers' own RePaintScheduler driven by
// RePaintPipeline's loop (golden/repaint_tiny.safetensors,
// scripts/make_repaint_golden.py; ddpm4j's noise put in place of diffusers'):
// the schedule, x after the first jump back and the model step after it, and
// the final images, at eta 0 and 1; and ddpm::repaint_timesteps against the
// schedule diffusers made (the Java Sampler's repaintTimesteps is checked
// against the same loop's lists in SamplerTest).
TEST(repaint_matches_diffusers_golden) {
  SafeTensors g("golden/repaint_tiny.safetensors");
  const UNetConfig c = golden_config(g);
  const int n = g.meta_int("batch");
  for (const std::string name : {"eta0_25", "eta1_20"}) {
    auto be = cpu();
    UNet net(*be, c, n);
    load_state_dict(net, g);
    const auto& args = g.at(name + ".args").ints;
    const int steps = int(args[0]), span = c.timesteps / steps;
    const double eta = g.at(name + ".eta").f32[0];
    const std::vector<int32_t> ts = ints32(g, name + ".timesteps");
    const std::vector<int> ours = repaint_timesteps(c.timesteps, steps, int(args[1]), int(args[2]));
    CHECK_MSG(std::vector<int32_t>(ours.begin(), ours.end()) == ts, name + ": repaint_timesteps is diffusers' schedule");
    net.sample_begin(n, uint64_t(args[3]), args[4]);
    Vec x(size_t(n) * net.sample_size());
    net.sample_read(x.data(), false);
    const Vec& xT = g.at(name + ".x_T").f32;
    CHECK_CLOSE(name + " x_T (sample_begin's noise)", x.data(), xT.data(), x.size(), 1e-6, 1e-6);
    net.sample_set_known(g.at(name + ".known").f32.data(), g.at(name + ".keep").f32.data());
    int t_last = ts[0] + 1;
    bool jumped = false, mid_checked = false;
    for (int32_t t : ts) {
      if (t < t_last) {
        net.sample_step_repaint(t, t - span >= 0 ? t - span : -1, eta, 1.0f);
        if (jumped && !mid_checked) {
          net.sample_read(x.data(), false);
          const Vec& mid = g.at(name + ".x_mid").f32;
          CHECK_CLOSE(name + " x after the first jump back and its step (t=" + std::to_string(t) + ")", x.data(), mid.data(),
                      x.size(), 2e-4, 2e-4);
          mid_checked = true;
        }
      } else {
        net.sample_undo(t_last, span);
        jumped = true;
      }
      t_last = t;
    }
    CHECK(mid_checked);
    net.sample_read(x.data(), false);
    const Vec& ref = g.at(name + ".x_final").f32;
    CHECK_CLOSE(name + " final images", x.data(), ref.data(), x.size(), 1e-4, 1e-4);
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, double(std::fabs(x[i] - ref[i])));
    std::printf("  %s: %zu schedule entries, final images within %.2g of diffusers'\n", name.c_str(), ts.size(), worst);
  }
}

// Image-to-image's start: the known images noised to t where keep is 1.
TEST(noise_known_is_the_forward_process_at_t) {
  UNetConfig c = tiny_config();
  c.timesteps = 40;
  auto be = cpu();
  UNet net(*be, c, 3);
  net.init(5);
  const int n = 3;
  const int64_t per = net.sample_size();
  Vec x0 = random_vector(n * per, 8), keep(n * per, 1.0f);
  for (int64_t i = 0; i < per; ++i) keep[i] = 0.0f;  // image 0 stays x_T
  net.sample_begin(n, 42, 7);
  CHECK_THROWS(net.sample_noise_known(10), "sample_set_known first");
  Vec xT(n * per), got(n * per);
  net.sample_read(xT.data(), false);
  net.sample_set_known(x0.data(), keep.data());
  CHECK_THROWS(net.sample_noise_known(40), "t = 40");
  net.sample_noise_known(10);
  net.sample_read(got.data(), false);
  const Schedule sched = Schedule::linear(c.timesteps, c.beta_start, c.beta_end);
  const double abar = sched.alpha_bar64[10];
  double worst = 0;
  for (int64_t i = 0; i < n * per; ++i) {
    const double z = rng::gaussian_at(42, (1ull << 63) + (3ull << 32), 7 * per + i);
    const double ref = i < per ? xT[i] : std::sqrt(abar) * x0[i] + std::sqrt(1 - abar) * z;
    worst = std::max(worst, std::fabs(got[i] - ref));
  }
  CHECK_MSG(worst < 1e-5, "max |diff| " + std::to_string(worst));
}

TEST_MAIN()
