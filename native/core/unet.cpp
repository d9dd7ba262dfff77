// The seed UNet against ddpm::Backend: parameter table, memory plan,
// forward, backward, the DDPM training step and the ancestral sampler.
#include "ddpm/unet.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "ddpm/rng.h"

namespace ddpm {

namespace {

// Random streams. Training step s draws its timesteps from stream 4s and its
// noise from 4s+1; sampling uses the top half of the stream space.
constexpr uint64_t kSampleInitStream = 1ull << 63;
// The sampler's recorded steps (Backend::step_begin) have keys with this bit;
// a training step's key is its batch and flags (train_step).
constexpr uint64_t kSampleStepKey = 1ull << 63;
uint64_t train_t_stream(int64_t step) { return 4ull * static_cast<uint64_t>(step); }
uint64_t train_eps_stream(int64_t step) { return 4ull * static_cast<uint64_t>(step) + 1; }
uint64_t sample_step_stream(int t) { return kSampleInitStream + 1 + static_cast<uint64_t>(t); }
// The noise of a sampling's step number i between given noise levels (sample_step_dpm_solver_sigmas,
// whose timesteps can repeat): above every t's stream.
uint64_t sample_level_stream(int i) { return kSampleInitStream + (1ull << 32) + static_cast<uint64_t>(i); }
// RePaint's draw number i of a sampling (its steps and undos revisit timesteps).
uint64_t sample_repaint_stream(int64_t i) { return kSampleInitStream + (2ull << 32) + static_cast<uint64_t>(i); }
// The noise of sample_noise_known (image-to-image's start).
constexpr uint64_t kSampleKnownNoiseStream = kSampleInitStream + (3ull << 32);
// Classifier-free guidance training: label i of step s is dropped when
// uniform_at(seed, 4s + 2, i) < cond_drop.
uint64_t train_label_stream(int64_t step) { return 4ull * static_cast<uint64_t>(step) + 2; }
constexpr double kPi = 3.14159265358979323846;
constexpr uint64_t kInitStreamBase = 1ull << 62;

// v with `digits` significant digits (%g), for messages.
std::string number_text(double v, int digits) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}


}  // namespace

void validate(const UNetConfig& c) {
  auto need = [](bool ok, const std::string& field, const std::string& what) {
    if (!ok) throw Error("invalid UNet config: " + field + " " + what);
  };
  need(c.in_channels >= 1 && c.in_channels <= 64, "in_channels", "must be in [1, 64], got " + std::to_string(c.in_channels));
  need(c.depth >= 1 && c.depth <= 8, "depth", "must be in [1, 8], got " + std::to_string(c.depth));
  need(c.base_width >= 1 && (static_cast<int64_t>(c.base_width) << c.depth) <= (1 << 16), "base_width",
       "must be >= 1 and base_width * 2^depth <= 65536, got " + std::to_string(c.base_width));
  need(c.height >= (1 << c.depth), "height",
       "must be at least 2^depth = " + std::to_string(1 << c.depth) + ", got " + std::to_string(c.height));
  need(c.width >= (1 << c.depth), "width",
       "must be at least 2^depth = " + std::to_string(1 << c.depth) + ", got " + std::to_string(c.width));
  need(c.time_dim >= 2, "time_dim", "must be >= 2, got " + std::to_string(c.time_dim));
  need(c.timesteps >= 2, "timesteps", "must be >= 2, got " + std::to_string(c.timesteps));
  need(c.beta_start > 0.0f && c.beta_start <= c.beta_end && c.beta_end < 1.0f, "beta_start/beta_end",
       "must satisfy 0 < beta_start <= beta_end < 1");
  need(c.bn_momentum >= 0.0f && c.bn_momentum <= 1.0f, "bn_momentum", "must be in [0, 1]");
  need(c.bn_eps > 0.0f, "bn_eps", "must be positive");
  need(c.schedule == kScheduleLinear || c.schedule == kScheduleCosine, "schedule",
       "must be 0 (linear) or 1 (cosine), got " + std::to_string(c.schedule));
  need(c.num_classes >= 0 && c.num_classes < (1 << 16), "num_classes",
       "must be in [0, 65535] (0 = unconditional), got " + std::to_string(c.num_classes));
  need(c.prediction == kPredictEpsilon || c.prediction == kPredictV, "prediction",
       "must be 0 (epsilon) or 1 (v), got " + std::to_string(c.prediction));
}

void sinusoidal_table(int timesteps, int dim, float* out) {
  for (int t = 0; t < timesteps; ++t)
    for (int j = 0; j < dim; ++j) {
      double freq = std::pow(10000.0, -2.0 * (j / 2) / static_cast<double>(dim));
      double a = t * freq;
      out[static_cast<int64_t>(t) * dim + j] = static_cast<float>(j % 2 == 0 ? std::sin(a) : std::cos(a));
    }
}

Schedule Schedule::linear(int T, float beta_start, float beta_end) {
  std::vector<double> betas(T);
  for (int t = 0; t < T; ++t) betas[t] = beta_start + (static_cast<double>(beta_end) - beta_start) * t / (T - 1);
  return from_betas(betas);
}

Schedule Schedule::cosine(int T, double s, double max_beta) {
  if (T < 2) throw Error("Schedule::cosine: timesteps must be >= 2, got " + std::to_string(T));
  auto f = [&](double t) {
    const double c = std::cos((t / T + s) / (1.0 + s) * kPi / 2.0);
    return c * c;
  };
  std::vector<double> betas(T);
  for (int t = 0; t < T; ++t) betas[t] = std::min(1.0 - f(t + 1.0) / f(static_cast<double>(t)), max_beta);
  return from_betas(betas);
}

Schedule Schedule::of(const UNetConfig& cfg) {
  return cfg.schedule == kScheduleCosine ? cosine(cfg.timesteps) : linear(cfg.timesteps, cfg.beta_start, cfg.beta_end);
}

DdimCoefficients Schedule::ddim(int t, int t_prev, double eta, float x0_clip) const {
  const int T = static_cast<int>(alpha_bar64.size());
  if (t < 0 || t >= T) throw Error("DDIM step: t = " + std::to_string(t) + " is outside [0, " + std::to_string(T) + ")");
  if (t_prev < -1 || t_prev >= t)
    throw Error("DDIM step: t_prev = " + std::to_string(t_prev) + " must be in [-1, t = " + std::to_string(t) + ")");
  if (!(eta >= 0.0) || !std::isfinite(eta)) throw Error("DDIM step: eta must be a number >= 0, got " + std::to_string(eta));
  const double a = alpha_bar64[t];
  const double ap = t_prev >= 0 ? alpha_bar64[t_prev] : 1.0;
  const double sigma = eta * std::sqrt((1.0 - ap) / (1.0 - a)) * std::sqrt(1.0 - a / ap);
  DdimCoefficients k;
  k.inv_sqrt_abar = static_cast<float>(1.0 / std::sqrt(a));
  k.sqrt_1m_abar = static_cast<float>(std::sqrt(1.0 - a));
  k.x0_coef = static_cast<float>(std::sqrt(ap));
  k.eps_coef = static_cast<float>(std::sqrt(std::max(0.0, 1.0 - ap - sigma * sigma)));
  k.sigma = static_cast<float>(sigma);
  k.x0_clip = x0_clip;
  return k;
}

DdimCoefficients Schedule::ddpm_posterior(int t, float x0_clip) const {
  const int T = static_cast<int>(alpha_bar64.size());
  if (t < 0 || t >= T) throw Error("DDPM step: t = " + std::to_string(t) + " is outside [0, " + std::to_string(T) + ")");
  const double a = alpha_bar64[t];
  const double ap = t > 0 ? alpha_bar64[t - 1] : 1.0;
  const double beta = 1.0 - a / ap;  // = beta_t, from the same doubles as alpha_bar
  DdimCoefficients k;
  k.inv_sqrt_abar = static_cast<float>(1.0 / std::sqrt(a));
  k.sqrt_1m_abar = static_cast<float>(std::sqrt(1.0 - a));
  k.x0_coef = static_cast<float>(std::sqrt(ap) * beta / (1.0 - a));
  k.eps_coef = 0.0f;
  k.xt_coef = static_cast<float>(std::sqrt(1.0 - beta) * (1.0 - ap) / (1.0 - a));
  k.sigma = t == 0 ? 0.0f : static_cast<float>(std::sqrt(beta));
  k.x0_clip = x0_clip;
  return k;
}

namespace {

// One noise level of a DPM-Solver++ step: alpha_t, sigma_t (VP: alpha^2 + sigma^2 = 1)
// and the log-SNR lambda = log(alpha / sigma).
struct DpmLevel {
  double alpha, sigma, lambda;
};

DpmLevel dpm_level_at(const std::vector<double>& alpha_bar64, int t) {
  const double a = alpha_bar64[t];
  return {std::sqrt(a), std::sqrt(1.0 - a), 0.5 * std::log(a / (1.0 - a))};
}

// diffusers' _sigma_to_alpha_sigma_t: alpha = 1 / sqrt(1 + s^2), sigma_t = s * alpha; lambda = -log(s).
DpmLevel dpm_level_of_sigma(double s) {
  const double alpha = 1.0 / std::sqrt(1.0 + s * s);
  return {alpha, s * alpha, -std::log(s)};
}

// The step from `cur` to `next` (nullptr: to sigma = 0, x_0 itself, first order, diffusers'
// final_sigmas_type "zero"), second order through the level `last` of the previous x_0
// prediction (nullptr: first order), third order through `last2` too.
DpmSolverCoefficients dpm_solver_coefficients(const DpmLevel& cur, const DpmLevel* next, const DpmLevel* last,
                                              const DpmLevel* last2, bool sde, float x0_clip) {
  DpmSolverCoefficients k;
  k.inv_alpha = static_cast<float>(1.0 / cur.alpha);
  k.sigma = static_cast<float>(cur.sigma);
  k.x0_clip = x0_clip;
  if (!next) return k;
  const double alpha_n = next->alpha, sigma_n = next->sigma;
  const double h = next->lambda - cur.lambda;
  // ODE: x' = (sigma'/sigma) x + alpha' (1 - e^-h) D; SDE: x' = (sigma'/sigma) e^-h x +
  // alpha' (1 - e^-2h) D + sigma' sqrt(1 - e^-2h) z. D = x0, or for 2M (midpoint)
  // x0 + (x0 - x0_prev) / (2 r0) with r0 = h_last / h.
  const double A = sde ? -alpha_n * std::expm1(-2.0 * h) : -alpha_n * std::expm1(-h);
  k.xt_coef = static_cast<float>(sigma_n / cur.sigma * (sde ? std::exp(-h) : 1.0));
  k.noise = sde ? static_cast<float>(sigma_n * std::sqrt(-std::expm1(-2.0 * h))) : 0.0f;
  if (!last) {
    k.x0_coef = static_cast<float>(A);
    return k;
  }
  const double r0 = (cur.lambda - last->lambda) / h;
  if (!last2) {
    k.x0_coef = static_cast<float>(A * (1.0 + 0.5 / r0));
    k.prev_coef = static_cast<float>(-A * 0.5 / r0);
    return k;
  }
  // 3M: x' = (sigma'/sigma) x + A m0 + B D1 + C D2 with B = alpha' ((e^-h - 1)/h + 1),
  // C = -alpha' ((e^-h - 1 + h)/h^2 - 1/2), D1 = (1 + q) D1_0 - q D1_1, D2 = (D1_0 - D1_1)/(r0 + r1),
  // q = r0/(r0 + r1), D1_0 = (m0 - m1)/r0, D1_1 = (m1 - m2)/r1, r1 = h_last2/h: linear in m0, m1, m2.
  const double r1 = (last->lambda - last2->lambda) / h;
  const double em1 = std::expm1(-h);
  const double B = alpha_n * (em1 / h + 1.0), C = -alpha_n * ((em1 + h) / (h * h) - 0.5);
  const double q = r0 / (r0 + r1);
  const double P = B * (1.0 + q) + C / (r0 + r1), Q = B * q + C / (r0 + r1);  // times D1_0 and -D1_1
  k.x0_coef = static_cast<float>(A + P / r0);
  k.prev_coef = static_cast<float>(-P / r0 - Q / r1);
  k.prev2_coef = static_cast<float>(Q / r1);
  return k;
}

}  // namespace

DpmSolverCoefficients Schedule::dpm_solver(int t, int t_next, int t_last, bool sde, float x0_clip, int t_last2) const {
  const int T = static_cast<int>(alpha_bar64.size());
  if (t < 0 || t >= T)
    throw Error("DPM-Solver step: t = " + std::to_string(t) + " is outside [0, " + std::to_string(T) + ")");
  if (t_next < -1 || t_next >= t)
    throw Error("DPM-Solver step: t_next = " + std::to_string(t_next) + " must be in [-1, t = " + std::to_string(t) + ")");
  if (t_last != -1 && (t_last <= t || t_last >= T))
    throw Error("DPM-Solver step: t_last = " + std::to_string(t_last) + " must be -1 or in (t = " + std::to_string(t) +
                ", " + std::to_string(T) + ")");
  if (t_last2 != -1 && (t_last < 0 || t_last2 <= t_last || t_last2 >= T || sde))
    throw Error("DPM-Solver step: t_last2 = " + std::to_string(t_last2) + " must be -1, or in (t_last = " +
                std::to_string(t_last) + ", " + std::to_string(T) + ") without the SDE (third order is for the ODE)");
  auto level = [&](int u) { return dpm_level_at(alpha_bar64, u); };
  const DpmLevel cur = level(t);
  const DpmLevel next = t_next >= 0 ? level(t_next) : DpmLevel{};
  const DpmLevel last = t_last >= 0 ? level(t_last) : DpmLevel{};
  const DpmLevel last2 = t_last2 >= 0 ? level(t_last2) : DpmLevel{};
  return dpm_solver_coefficients(cur, t_next >= 0 ? &next : nullptr, t_last >= 0 ? &last : nullptr,
                                 t_last2 >= 0 ? &last2 : nullptr, sde, x0_clip);
}

DpmSolverCoefficients Schedule::dpm_solver_sigmas(double sigma, double sigma_next, double sigma_last, bool sde,
                                                  float x0_clip, double sigma_last2) {
  auto text = [](double v) { return number_text(v, 9); };
  if (!(sigma > 0.0) || !std::isfinite(sigma))
    throw Error("DPM-Solver step: sigma = " + text(sigma) + " must be a positive number");
  if (!(sigma_next >= 0.0 && sigma_next < sigma))
    throw Error("DPM-Solver step: sigma_next = " + text(sigma_next) + " must be in [0, sigma = " + text(sigma) + ")");
  if (!(sigma_last == 0.0 || (sigma_last > sigma && std::isfinite(sigma_last))))
    throw Error("DPM-Solver step: sigma_last = " + text(sigma_last) + " must be 0 or above sigma = " + text(sigma));
  if (!(sigma_last2 == 0.0 || (sigma_last > 0.0 && sigma_last2 > sigma_last && std::isfinite(sigma_last2) && !sde)))
    throw Error("DPM-Solver step: sigma_last2 = " + text(sigma_last2) + " must be 0, or above sigma_last = " +
                text(sigma_last) + " without the SDE (third order is for the ODE)");
  const DpmLevel cur = dpm_level_of_sigma(sigma);
  const DpmLevel next = sigma_next > 0.0 ? dpm_level_of_sigma(sigma_next) : DpmLevel{};
  const DpmLevel last = sigma_last > 0.0 ? dpm_level_of_sigma(sigma_last) : DpmLevel{};
  const DpmLevel last2 = sigma_last2 > 0.0 ? dpm_level_of_sigma(sigma_last2) : DpmLevel{};
  return dpm_solver_coefficients(cur, sigma_next > 0.0 ? &next : nullptr, sigma_last > 0.0 ? &last : nullptr,
                                 sigma_last2 > 0.0 ? &last2 : nullptr, sde, x0_clip);
}

double Schedule::sigma_at(int t) const {
  const int T = static_cast<int>(alpha_bar64.size());
  if (t < 0 || t >= T) throw Error("sigma_at: t = " + std::to_string(t) + " is outside [0, " + std::to_string(T) + ")");
  return std::sqrt((1.0 - alpha_bar64[t]) / alpha_bar64[t]);
}

std::vector<float> Schedule::min_snr_weights(double gamma, bool v_prediction) const {
  if (!(gamma > 0.0) || !std::isfinite(gamma))
    throw Error("Min-SNR weights: gamma must be a positive number, got " + std::to_string(gamma));
  std::vector<float> w(alpha_bar64.size());
  for (size_t t = 0; t < w.size(); ++t) {
    const double snr = alpha_bar64[t] / (1.0 - alpha_bar64[t]);
    w[t] = static_cast<float>(std::min(snr, gamma) / (v_prediction ? snr + 1.0 : snr));
  }
  return w;
}

std::vector<int> dpm_solver_timesteps(int T, int S) {
  if (S < 1 || S > T - 1)
    throw Error("DPM-Solver: sampling steps must be in [1, timesteps - 1 = " + std::to_string(T - 1) + "], got " +
                std::to_string(S));
  // numpy's linspace(0, T - 1, S + 1): i * ((T - 1) / S), the last exactly T - 1;
  // np.round rounds halves to even, as nearbyint in the default rounding mode.
  const double step = static_cast<double>(T - 1) / S;
  std::vector<int> ts(S);
  for (int i = 1; i <= S; ++i) ts[S - i] = i == S ? T - 1 : static_cast<int>(std::nearbyint(i * step));
  return ts;
}

std::vector<double> karras_sigmas(const Schedule& schedule, int S) {
  const int T = static_cast<int>(schedule.alpha_bar64.size());
  if (S < 1 || S > T - 1)
    throw Error("DPM-Solver (Karras sigmas): sampling steps must be in [1, timesteps - 1 = " + std::to_string(T - 1) +
                "], got " + std::to_string(S));
  // diffusers' _convert_to_karras: (max^(1/rho) + ramp (min^(1/rho) - max^(1/rho)))^rho with
  // ramp = numpy's linspace(0, 1, S) (i / (S - 1), the last exactly 1).
  constexpr double rho = 7.0;
  const double min_inv_rho = std::pow(schedule.sigma_at(0), 1.0 / rho);
  const double max_inv_rho = std::pow(schedule.sigma_at(T - 1), 1.0 / rho);
  std::vector<double> sigmas(S);
  for (int i = 0; i < S; ++i) {
    const double ramp = S == 1 ? 0.0 : i == S - 1 ? 1.0 : i * (1.0 / (S - 1));
    sigmas[i] = std::pow(max_inv_rho + ramp * (min_inv_rho - max_inv_rho), rho);
  }
  return sigmas;
}

int timestep_of_sigma(const Schedule& schedule, double sigma) {
  const int T = static_cast<int>(schedule.alpha_bar64.size());
  if (T < 2) throw Error("timestep_of_sigma: the schedule needs at least 2 timesteps");
  if (!(sigma >= 0.0) || !std::isfinite(sigma))
    throw Error("timestep_of_sigma: sigma must be a number >= 0, got " + std::to_string(sigma));
  // log sigma_t grows with t. low: the last t with log sigma_t <= log sigma (0 when none), at most T - 2;
  // found by bisection (a run's S levels would otherwise take S x T logarithms).
  const double log_sigma = std::log(std::max(sigma, 1e-10));
  auto log_sigma_at = [&](int t) { return std::log(schedule.sigma_at(t)); };
  int first = 0, end = T;  // the first t with log sigma_t > log sigma lies in [first, end]
  while (first < end) {
    const int mid = first + (end - first) / 2;
    if (log_sigma - log_sigma_at(mid) >= 0.0) first = mid + 1;
    else end = mid;
  }
  const int low = std::min(std::max(first - 1, 0), T - 2);
  const double lo = log_sigma_at(low), hi = log_sigma_at(low + 1);
  const double w = std::clamp((lo - log_sigma) / (lo - hi), 0.0, 1.0);
  return static_cast<int>(std::nearbyint((1.0 - w) * low + w * (low + 1)));
}

std::vector<int> ddim_timesteps(int T, int S) {
  if (S < 1 || S > T)
    throw Error("DDIM: sampling steps must be in [1, timesteps = " + std::to_string(T) + "], got " + std::to_string(S));
  std::vector<int> ts(S);
  for (int i = 0; i < S; ++i) ts[S - 1 - i] = static_cast<int>(static_cast<int64_t>(i) * T / S);
  return ts;
}

std::vector<int> repaint_timesteps(int T, int S, int jump_length, int jump_n_sample) {
  if (S < 1 || S > T)
    throw Error("RePaint: sampling steps must be in [1, timesteps = " + std::to_string(T) + "], got " + std::to_string(S));
  if (jump_length < 1 || jump_n_sample < 1) throw Error("RePaint: jump length and jump samples must be >= 1");
  std::vector<int> jumps(S, 0);
  for (int j = 0; j < S - jump_length; j += jump_length) jumps[j] = jump_n_sample - 1;
  std::vector<int> ts;
  for (int t = S; t >= 1;) {
    --t;
    ts.push_back(t);
    if (jumps[t] > 0) {
      --jumps[t];
      for (int k = 0; k < jump_length; ++k) ts.push_back(++t);
    }
  }
  for (int& t : ts) t *= T / S;
  return ts;
}

Schedule Schedule::from_betas(const std::vector<double>& betas) {
  const int T = static_cast<int>(betas.size());
  Schedule s;
  auto resize = [T](std::vector<float>& v) { v.assign(T, 0.0f); };
  for (auto* v : {&s.beta, &s.alpha, &s.alpha_bar, &s.sqrt_alpha_bar, &s.sqrt_one_minus_alpha_bar,
                  &s.c_x, &s.c_eps, &s.sigma})
    resize(*v);
  s.alpha_bar64.assign(T, 0.0);
  double abar = 1.0;
  for (int t = 0; t < T; ++t) {
    double beta = betas[t];
    double alpha = 1.0 - beta;
    abar *= alpha;
    s.alpha_bar64[t] = abar;
    s.beta[t] = static_cast<float>(beta);
    s.alpha[t] = static_cast<float>(alpha);
    s.alpha_bar[t] = static_cast<float>(abar);
    s.sqrt_alpha_bar[t] = static_cast<float>(std::sqrt(abar));
    s.sqrt_one_minus_alpha_bar[t] = static_cast<float>(std::sqrt(1.0 - abar));
    s.c_x[t] = static_cast<float>(1.0 / std::sqrt(alpha));
    s.c_eps[t] = static_cast<float>(beta / std::sqrt(1.0 - abar));
    s.sigma[t] = t == 0 ? 0.0f : static_cast<float>(std::sqrt(beta));
  }
  return s;
}

// ---------------------------------------------------------------------------

namespace {
// A side region (Backend::side_begin) for the scope's op calls, when `on`:
// end() closes it; an exception closes it on the way out.
class SideRegion {
 public:
  SideRegion(Backend& be, bool on) : be_(be), open_(on) {
    if (open_) be_.side_begin();
  }
  void end() {
    if (!open_) return;
    open_ = false;
    be_.side_end();
  }
  ~SideRegion() {
    if (!open_) return;
    try {
      be_.side_end();
    } catch (...) {  // the exception on its way out says what went wrong
    }
  }
  SideRegion(const SideRegion&) = delete;
  SideRegion& operator=(const SideRegion&) = delete;

 private:
  Backend& be_;
  bool open_;
};
}  // namespace

struct UNet::Impl {
  // A (conv3x3 -> BN -> ReLU) x 2 block and everything it keeps for backward.
  struct Block {
    int cin = 0, cout = 0, H = 0, W = 0;
    int64_t w1 = 0, b1 = 0, g1 = 0, be1 = 0, w2 = 0, b2 = 0, g2 = 0, be2 = 0;  // param offsets
    int64_t rm1 = 0, rv1 = 0, rm2 = 0, rv2 = 0;                                 // buffer offsets
    float *in = nullptr, *z1 = nullptr, *y1 = nullptr, *z2 = nullptr, *y2 = nullptr;
    float *mean1 = nullptr, *istd1 = nullptr, *mean2 = nullptr, *istd2 = nullptr;
    int add_te = -1;  // time MLP added after the final ReLU, or -1
  };
  // te = Linear(time_dim, c) -> SiLU -> Linear(c, c)
  struct TimeMlp {
    int c = 0;
    int64_t w1 = 0, b1 = 0, w2 = 0, b2 = 0;
    float *h = nullptr, *s = nullptr, *o = nullptr, *dout = nullptr;
    float* by_t = nullptr;  // an unconditional model's sampling table: te(t) for every t, timesteps x c
  };
  struct Up {  // convT + pad/concat in front of blocks[up block]
    int cin = 0, cout = 0, Hin = 0, Win = 0;
    int64_t w = 0, b = 0;
  };

  Backend& be;
  UNetConfig cfg;
  int max_batch;
  Schedule sched;

  // Flat buffers.
  float *params = nullptr, *grads = nullptr, *adam = nullptr, *buffers = nullptr, *table = nullptr;
  // Adam's second moments start at adam + v_offset, rounded up from
  // num_params to 4 floats, so both halves are 16-byte aligned and the
  // optimizer's vector path runs (the seed model's 33,078,526 parameters
  // left v 8 bytes off: the CUDA kernel fell back to scalar loads, 0.39 ms
  // of an H200 step). Transfers move the halves apart, so the host's layout
  // (and a checkpoint's) is still m then v, 2 * num_params floats.
  int64_t v_offset = 0;
  float *sqrt_abar = nullptr, *sqrt_1m_abar = nullptr;
  // v prediction: -sqrt(1 - abar_t) (the v target is noise_add with it) and the target buffer.
  float *neg_sqrt_1m_abar = nullptr, *v_target = nullptr;
  bool v_prediction() const { return cfg.prediction == kPredictV; }

  // Structure: blocks[0] = conv1, blocks[1..D] = down1..D, blocks[D+1..2D] = up1..D.
  std::vector<Block> blocks;
  std::vector<Up> ups;             // ups[j-1] for up_j
  std::vector<TimeMlp> tes;        // te1..te{D+1}, te1_up..te{D}_up
  std::vector<int> level_h, level_w;  // spatial size at level l (0..D)
  int64_t last_w = 0, last_b = 0;
  int64_t class_w = -1;  // class_embed.weight (conditional models), else -1

  // Activations (sized for max_batch).
  int32_t* t_dev = nullptr;
  float* emb = nullptr;
  // Sampling an unconditional model: each time MLP's output depends on t
  // alone, so sample steps gather it from TimeMlp::by_t (one gather a MLP
  // instead of a gather, 2 Linears and a SiLU: ~37 launches fewer a step).
  // by_t holds the MLPs of the weights as they were at weights generation
  // by_t_generation (UNet::weights_generation_); a sample step rebuilds it
  // when they changed since. Used only while sampling_by_t is set.
  uint64_t by_t_generation = ~0ull;
  bool sampling_by_t = false;
  std::vector<float*> gx;  // gx[i] = gradient of x_i (i = 1..D), index 0 unused
  float *s1 = nullptr, *s2 = nullptr, *s3 = nullptr;  // scratch, each max_tensor floats
  float* te_dh = nullptr;  // the time MLPs' hidden gradient (max_batch x widest MLP), side regions only
  float *x_in = nullptr, *out = nullptr, *dout = nullptr, *dx = nullptr;
  // Training step.
  uint8_t *pixels = nullptr, *flips = nullptr;
  float *x0 = nullptr, *eps = nullptr, *xt = nullptr, *loss_ring = nullptr;
  float* grad_norm = nullptr;    // the gradient norms of the last kLossRing steps (set_max_grad_norm), as loss_ring
  float* snr_weights = nullptr;  // Min-SNR-gamma loss weights, one per timestep (set_snr_gamma)
  int64_t losses_written_upto = -1;  // highest step whose loss is in the ring
  // Sampling.
  float *sample_x = nullptr, *sample_eps = nullptr;
  // DPM-Solver++: the x_0 prediction of the last step, and its t (-1: none yet).
  float *sample_x0_prev = nullptr, *sample_x0_prev2 = nullptr;
  int sample_dpm_last = -1, sample_dpm_next = -1;  // the last DPM-Solver step's t and t_next
  int sample_dpm_before = -1;                      // and the t of the one before it
  // The same for steps between given noise levels (0: none), and how many of those this sampling ran.
  double sample_sigma_last = 0.0, sample_sigma_next = 0.0, sample_sigma_before = 0.0;
  int sample_level_steps = 0;
  // Inpainting (sample_set_known): the known images and where they are kept, for
  // the images begun by the last sample_begin; RePaint's noise draws so far.
  float *known_x0 = nullptr, *known_keep = nullptr;
  bool known_set = false;
  int64_t repaint_draws = 0;
  void forget_dpm_history() {
    sample_dpm_last = sample_dpm_next = sample_dpm_before = -1;
    sample_sigma_last = sample_sigma_next = sample_sigma_before = 0.0;
  }
  std::vector<int32_t> host_t;
  int sample_n = 0;
  uint64_t sample_seed = 0;
  int64_t sample_first = 0;
  // Class conditioning (num_classes > 0): the labels of the current batch,
  // a batch of null labels, and the time MLPs' input gradients (one slice
  // per MLP) that class_embed_backward sums.
  int32_t *labels_dev = nullptr, *null_labels = nullptr;
  float* demb = nullptr;
  std::vector<int32_t> host_labels;
  // Sampling of a conditional model: which labels the pass uses, and whether
  // the pass is a guided pair (labels then null labels, 2n samples).
  const int32_t* sample_labels = nullptr;
  bool sample_pair = false;
  float guidance = 1.0f;
  // EMA of the parameters then of the BatchNorm statistics (set_ema), or nullptr.
  float* ema = nullptr;

  int last_training_n = -1;  // batch of the last training forward
  const int32_t* train_labels = nullptr;  // labels of the last training forward
  std::vector<void*> allocations;

  Impl(Backend& b, const UNetConfig& c, int mb) : be(b), cfg(c), max_batch(mb) {}
  ~Impl() {
    for (void* p : allocations) be.free(p);
  }

  template <typename T>
  T* alloc(int64_t count, int64_t& total_bytes) {
    return static_cast<T*>(alloc_bytes(static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(T), total_bytes));
  }
  // An activation of `count` values in the backend's activation format.
  float* alloc_activation(int64_t count, int64_t& total_bytes) {
    return static_cast<float*>(alloc_bytes(be.activation_bytes(static_cast<size_t>(std::max<int64_t>(count, 1))),
                                           total_bytes));
  }
  void* alloc_bytes(size_t bytes, int64_t& total_bytes) {
    void* p = be.alloc(bytes);
    allocations.push_back(p);
    total_bytes += static_cast<int64_t>(bytes);
    return p;
  }
  // Whether activations are float32 NCHW, so the model's input and output
  // (always float32 NCHW) can be used as activations without conversion.
  bool native_activations() const {
    return be.activation_format() == Backend::ActivationFormat::kFloat32NCHW;
  }

  int64_t chw() const { return static_cast<int64_t>(cfg.in_channels) * cfg.height * cfg.width; }
  float* P(int64_t off) { return params + off; }
  float* G(int64_t off) { return grads + off; }

  // ---- forward pieces -------------------------------------------------
  bool conditional() const { return cfg.num_classes > 0; }

  // The time MLPs' outputs. te1's is read by the first op of the forward;
  // each of the others runs in a side region of its own (Backend::side_begin),
  // as it is first read a block or more later.
  void time_mlps_forward(int n, const int32_t* labels) {
    if (!sampling_by_t) {
      be.embedding_gather(table, t_dev, emb, n, cfg.time_dim, cfg.timesteps);
      if (conditional()) be.class_embed_add(P(class_w), labels, emb, n, cfg.time_dim, cfg.num_classes + 1);
    }
    for (size_t i = 0; i < tes.size(); ++i) {
      TimeMlp& te = tes[i];
      SideRegion region(be, i > 0);
      if (sampling_by_t) {
        be.embedding_gather(te.by_t, t_dev, te.o, n, te.c, cfg.timesteps);
      } else {
        be.linear_forward(emb, P(te.w1), P(te.b1), te.h, n, cfg.time_dim, te.c);
        be.silu_forward(te.h, te.s, static_cast<size_t>(n) * te.c);
        be.linear_forward(te.s, P(te.w2), P(te.b2), te.o, n, te.c, te.c);
      }
      region.end();
    }
  }

  // Time MLP i's backward, in a side region, issued as soon as its output
  // gradient tes[i].dout is complete: the time table is frozen, so no
  // gradient flows past Linear 1 unless a learned class embedding was added
  // to its rows (then into demb's slice i). Its hidden gradient goes to
  // te_dh, which only these regions use.
  void time_mlp_backward(size_t i, int n) {
    TimeMlp& te = tes[i];
    SideRegion region(be, true);
    be.linear_backward(te.s, P(te.w2), te.dout, te_dh, G(te.w2), G(te.b2), n, te.c, te.c);
    be.silu_backward(te.h, te_dh, te_dh, static_cast<size_t>(n) * te.c);
    float* d_emb = conditional() ? demb + static_cast<int64_t>(i) * n * cfg.time_dim : nullptr;
    be.linear_backward(emb, P(te.w1), te_dh, d_emb, G(te.w1), G(te.b1), n, cfg.time_dim, te.c);
    region.end();
  }

  // TimeMlp::by_t from the current weights: the MLPs over the time table's
  // rows, max_batch rows at a time (the rows are the MLPs' inputs for t).
  void build_time_tables() {
    const int T = cfg.timesteps;
    for (auto& te : tes) {
      for (int r0 = 0; r0 < T; r0 += max_batch) {
        const int k = std::min(max_batch, T - r0);
        be.linear_forward(table + static_cast<int64_t>(r0) * cfg.time_dim, P(te.w1), P(te.b1), te.h, k, cfg.time_dim,
                          te.c);
        be.silu_forward(te.h, te.s, static_cast<size_t>(k) * te.c);
        be.linear_forward(te.s, P(te.w2), P(te.b2), te.by_t + static_cast<int64_t>(r0) * te.c, k, te.c, te.c);
      }
    }
  }

  void block_forward(Block& b, int n, bool training) {
    const int HW = b.H * b.W;
    const float mom = cfg.bn_momentum, e = cfg.bn_eps;
    const float* add = b.add_te >= 0 ? tes[b.add_te].o : nullptr;
    if (!training) {  // the running statistics are known: each conv + BatchNorm + ReLU is one op
      be.conv2d_batchnorm_relu_eval(b.in, P(b.w1), P(b.b1), P(b.g1), P(b.be1), buffers + b.rm1, buffers + b.rv1,
                                    nullptr, b.y1, n, b.cin, b.H, b.W, b.cout, 3, e);
      be.conv2d_batchnorm_relu_eval(b.y1, P(b.w2), P(b.b2), P(b.g2), P(b.be2), buffers + b.rm2, buffers + b.rv2, add,
                                    b.y2, n, b.cout, b.H, b.W, b.cout, 3, e);
      return;
    }
    // Each conv's bias goes to its BatchNorm instead of a pass over z: the
    // batch statistics cancel it, and only the running mean takes it (ops.def).
    be.conv2d_forward(b.in, P(b.w1), nullptr, b.z1, n, b.cin, b.H, b.W, b.cout, 3);
    be.batchnorm_relu_forward(b.z1, b.y1, P(b.g1), P(b.be1), P(b.b1), buffers + b.rm1, buffers + b.rv1,
                              b.mean1, b.istd1, nullptr, n, b.cout, HW, training, mom, e);
    be.conv2d_forward(b.y1, P(b.w2), nullptr, b.z2, n, b.cout, b.H, b.W, b.cout, 3);
    be.batchnorm_relu_forward(b.z2, b.y2, P(b.g2), P(b.be2), P(b.b2), buffers + b.rm2, buffers + b.rv2,
                              b.mean2, b.istd2, add, n, b.cout, HW, training, mom, e);
  }

  void forward(const float* x, const int32_t* labels, float* y, int n, bool training) {
    const int D = cfg.depth;
    time_mlps_forward(n, labels);
    // conv1(x + te1)
    Block& b0 = blocks[0];
    const int HW0 = cfg.height * cfg.width;
    if (native_activations()) {
      be.add_channel_forward(x, tes[0].o, b0.in, n, cfg.in_channels, HW0);
    } else {
      be.to_activation(x, b0.in, n, cfg.in_channels, HW0);
      be.add_channel_forward(b0.in, tes[0].o, b0.in, n, cfg.in_channels, HW0);
    }
    block_forward(b0, n, training);
    // down_i(x_i + te_{i+1}) = double_conv(maxpool(x_i) + te_{i+1})
    for (int i = 1; i <= D; ++i) {
      Block& prev = blocks[i - 1];
      Block& b = blocks[i];
      be.maxpool2x2_forward(prev.y2, b.in, tes[i].o, n, prev.cout, prev.H, prev.W);
      block_forward(b, n, training);
    }
    // up_j: the previous output already carries te{j}_up (fused into its BN).
    for (int j = 1; j <= D; ++j) {
      Block& prev = blocks[D + j - 1];
      Block& b = blocks[D + j];
      const Up& u = ups[j - 1];
      const Block& skip = blocks[D - j];
      // The transposed conv's bias is added by the concat's copy, not by a pass of its own.
      be.conv_transpose2x2_forward(prev.y2, P(u.w), nullptr, s1, n, u.cin, u.Hin, u.Win, u.cout);
      be.pad_concat_forward(s1, skip.y2, P(u.b), b.in, n, u.cout, 2 * u.Hin, 2 * u.Win, skip.cout, skip.H,
                            skip.W);
      block_forward(b, n, training);
    }
    // last_conv; in a reduced activation format its output goes through s1.
    float* y_act = native_activations() ? y : s1;
    be.conv2d_forward(blocks[2 * D].y2, P(last_w), P(last_b), y_act, n, cfg.base_width, cfg.height,
                      cfg.width, cfg.in_channels, 1);
    if (y_act != y) be.from_activation(y_act, y, n, cfg.in_channels, HW0);
  }

  // ---- backward pieces ---------------------------------------------------
  // dy holds the gradient of the block output (including any te add). On
  // return d_in holds the gradient of the block input; dy, s1, s2 and the
  // block's z2 are clobbered (dy may be s2).
  void block_backward(Block& b, float* dy, float* d_in, int n) {
    const int HW = b.H * b.W;
    float* dadd = b.add_te >= 0 ? tes[b.add_te].dout : nullptr;
    float* dz2 = s1;
    float* dy1 = s2;
    // dz1 goes where z2 was (its last reader is the first BatchNorm backward
    // below), not over dz2: a backend may still be reading dz2 for conv2's
    // weight gradient while the rest of the backward goes on (the CUDA
    // backend's side stream, side_stream.h).
    float* dz1 = b.z2;
    // The conv biases' gradients (exactly 0) come from the BatchNorms, which took the biases.
    be.batchnorm_relu_backward(b.z2, dy, P(b.g2), P(b.be2), b.mean2, b.istd2, dz2, G(b.g2),
                               G(b.be2), G(b.b2), dadd, n, b.cout, HW);
    if (dadd) time_mlp_backward(static_cast<size_t>(b.add_te), n);
    be.conv2d_backward(b.y1, P(b.w2), dz2, dy1, G(b.w2), nullptr, n, b.cout, b.H, b.W, b.cout, 3);
    be.batchnorm_relu_backward(b.z1, dy1, P(b.g1), P(b.be1), b.mean1, b.istd1, dz1, G(b.g1),
                               G(b.be1), G(b.b1), nullptr, n, b.cout, HW);
    be.conv2d_backward(b.in, P(b.w1), dz1, d_in, G(b.w1), nullptr, n, b.cin, b.H, b.W, b.cout, 3);
  }

  void backward(const float* d_out, float* d_x, int n) {
    const int D = cfg.depth;
    // last_conv: the gradient of u_D goes to s2 (d_out is float32 NCHW; in a
    // reduced activation format it is converted into s3 first).
    const int HW0 = cfg.height * cfg.width;
    const float* d_out_act = d_out;
    if (!native_activations()) {
      be.to_activation(d_out, s3, n, cfg.in_channels, HW0);
      d_out_act = s3;
    }
    be.conv2d_backward(blocks[2 * D].y2, P(last_w), d_out_act, s2, G(last_w), G(last_b), n,
                       cfg.base_width, cfg.height, cfg.width, cfg.in_channels, 1);
    // Up path, j = D..1. On entry s2 holds the gradient of up_j's output.
    for (int j = D; j >= 1; --j) {
      Block& b = blocks[D + j];
      const Up& u = ups[j - 1];
      const Block& skip = blocks[D - j];
      block_backward(b, s2, s3, n);
      // d cat -> d up and d skip (overwrites gx of the skip; the down path
      // adds its own share later). d up goes where the block's z1 was (dead
      // now) when it fits, not over s1, which conv2's weight gradient may
      // still be reading (see block_backward).
      const bool fits = static_cast<int64_t>(u.cout) * 4 * u.Hin * u.Win <= static_cast<int64_t>(b.cout) * b.H * b.W;
      float* d_up = fits ? b.z1 : s1;
      be.pad_concat_backward(s3, d_up, gx[D - j + 1], n, u.cout, 2 * u.Hin, 2 * u.Win, skip.cout,
                             skip.H, skip.W);
      const Block& prev = blocks[D + j - 1];
      be.conv_transpose2x2_backward(prev.y2, P(u.w), d_up, s2, G(u.w), G(u.b), n, u.cin, u.Hin,
                                    u.Win, u.cout);
    }
    // Down path, i = D..1. down_D's output gradient is in s2; the others are in gx.
    for (int i = D; i >= 1; --i) {
      Block& b = blocks[i];
      Block& prev = blocks[i - 1];
      float* dy = (i == D) ? s2 : gx[i + 1];
      block_backward(b, dy, s3, n);
      // d pooled -> accumulate into gx[i], and d te_{i+1}.
      be.maxpool2x2_backward(prev.y2, s3, gx[i], tes[i].dout, n, prev.cout, prev.H, prev.W);
      time_mlp_backward(static_cast<size_t>(i), n);
    }
    // conv1(x + te1)
    block_backward(blocks[0], gx[1], s3, n);
    be.add_channel_backward(s3, tes[0].dout, n, cfg.in_channels, HW0);
    time_mlp_backward(0, n);
    if (d_x) {
      if (native_activations()) be.copy(d_x, s3, sizeof(float) * static_cast<size_t>(n) * chw());
      else be.from_activation(s3, d_x, n, cfg.in_channels, HW0);
    }
    // Every time MLP's backward has been issued (time_mlp_backward).
    if (conditional())
      be.class_embed_backward(demb, static_cast<int>(tes.size()), train_labels, G(class_w), n, cfg.time_dim,
                              cfg.num_classes + 1);
  }
};

// ---------------------------------------------------------------------------

namespace {
uint64_t next_uid() {
  static std::atomic<uint64_t> counter{1};
  return counter.fetch_add(1);
}
}  // namespace

UNet::UNet(Backend& backend, const UNetConfig& cfg, int max_batch)
    : backend_(backend), cfg_(cfg), max_batch_(max_batch), uid_(next_uid()) {
  validate(cfg);
  if (max_batch < 1) throw Error("UNet: max_batch must be >= 1, got " + std::to_string(max_batch));
  impl_ = std::make_unique<Impl>(backend, cfg, max_batch);
  Impl& m = *impl_;
  m.sched = Schedule::of(cfg);
  const int D = cfg.depth;
  const int C0 = cfg.base_width;
  auto width = [&](int level) { return C0 << level; };

  // ---- parameter table (the seed's state_dict order) ----
  auto param = [&](const std::string& name, std::vector<int64_t> shape) {
    TensorInfo t;
    t.name = name;
    t.shape = std::move(shape);
    t.size = 1;
    for (auto d : t.shape) t.size *= d;
    t.offset = num_params_;
    num_params_ += t.size;
    params_.push_back(t);
    return t.offset;
  };
  auto buffer = [&](const std::string& name, int64_t c) {
    TensorInfo t;
    t.name = name;
    t.shape = {c};
    t.size = c;
    t.offset = num_buffers_;
    num_buffers_ += c;
    buffers_.push_back(t);
    return t.offset;
  };
  auto double_conv = [&](const std::string& prefix, int cin, int cout, int H, int W) {
    Impl::Block b;
    b.cin = cin;
    b.cout = cout;
    b.H = H;
    b.W = W;
    b.w1 = param(prefix + ".0.weight", {cout, cin, 3, 3});
    b.b1 = param(prefix + ".0.bias", {cout});
    b.g1 = param(prefix + ".1.weight", {cout});
    b.be1 = param(prefix + ".1.bias", {cout});
    b.rm1 = buffer(prefix + ".1.running_mean", cout);
    b.rv1 = buffer(prefix + ".1.running_var", cout);
    b.w2 = param(prefix + ".3.weight", {cout, cout, 3, 3});
    b.b2 = param(prefix + ".3.bias", {cout});
    b.g2 = param(prefix + ".4.weight", {cout});
    b.be2 = param(prefix + ".4.bias", {cout});
    b.rm2 = buffer(prefix + ".4.running_mean", cout);
    b.rv2 = buffer(prefix + ".4.running_var", cout);
    return b;
  };

  m.level_h.resize(D + 1);
  m.level_w.resize(D + 1);
  m.level_h[0] = cfg.height;
  m.level_w[0] = cfg.width;
  for (int l = 1; l <= D; ++l) {
    m.level_h[l] = m.level_h[l - 1] / 2;
    m.level_w[l] = m.level_w[l - 1] / 2;
  }
  m.blocks.push_back(double_conv("conv1.conv", cfg.in_channels, C0, cfg.height, cfg.width));
  for (int i = 1; i <= D; ++i)
    m.blocks.push_back(double_conv("down" + std::to_string(i) + ".conv.conv", width(i - 1), width(i),
                                   m.level_h[i], m.level_w[i]));
  for (int j = 1; j <= D; ++j) {
    const std::string p = "up" + std::to_string(j);
    const int lvl = D - j;  // output level
    Impl::Up u;
    u.cin = width(lvl + 1);
    u.cout = width(lvl);
    u.Hin = m.level_h[lvl + 1];
    u.Win = m.level_w[lvl + 1];
    u.w = param(p + ".up.up_scale.weight", {u.cin, u.cout, 2, 2});
    u.b = param(p + ".up.up_scale.bias", {u.cout});
    m.ups.push_back(u);
    m.blocks.push_back(double_conv(p + ".conv.conv", width(lvl + 1), width(lvl), m.level_h[lvl],
                                   m.level_w[lvl]));
  }
  m.last_w = param("last_conv.weight", {cfg.in_channels, C0, 1, 1});
  m.last_b = param("last_conv.bias", {cfg.in_channels});
  auto time_mlp = [&](const std::string& name, int c) {
    Impl::TimeMlp te;
    te.c = c;
    te.w1 = param(name + ".0.weight", {c, cfg.time_dim});
    te.b1 = param(name + ".0.bias", {c});
    te.w2 = param(name + ".2.weight", {c, c});
    te.b2 = param(name + ".2.bias", {c});
    return te;
  };
  m.tes.push_back(time_mlp("te1", cfg.in_channels));
  for (int i = 1; i <= D; ++i) m.tes.push_back(time_mlp("te" + std::to_string(i + 1), width(i - 1)));
  for (int j = 1; j <= D; ++j)
    m.tes.push_back(time_mlp("te" + std::to_string(j) + "_up", width(D - j + 1)));
  // te{j}_up is added to the input of up_j: fused into the BN of the block
  // before it (down_D for j = 1, up_{j-1} otherwise).
  for (int j = 1; j <= D; ++j) m.blocks[D + j - 1].add_te = D + j;
  // Last, so an unconditional model's table is unchanged.
  if (cfg.num_classes > 0) m.class_w = param("class_embed.weight", {cfg.num_classes + 1, cfg.time_dim});

  // ---- memory ----
  int64_t& bytes = backend_bytes_;
  const int64_t NB = max_batch;
  m.params = m.alloc<float>(num_params_, bytes);
  m.grads = m.alloc<float>(num_params_, bytes);
  m.v_offset = (num_params_ + 3) / 4 * 4;
  m.adam = m.alloc<float>(m.v_offset + num_params_, bytes);
  m.buffers = m.alloc<float>(num_buffers_, bytes);
  m.table = m.alloc<float>(static_cast<int64_t>(cfg.timesteps) * cfg.time_dim, bytes);
  m.sqrt_abar = m.alloc<float>(cfg.timesteps, bytes);
  m.sqrt_1m_abar = m.alloc<float>(cfg.timesteps, bytes);
  backend.upload(m.sqrt_abar, m.sched.sqrt_alpha_bar.data(), sizeof(float) * cfg.timesteps);
  backend.upload(m.sqrt_1m_abar, m.sched.sqrt_one_minus_alpha_bar.data(), sizeof(float) * cfg.timesteps);
  if (m.v_prediction()) {
    std::vector<float> neg(m.sched.sqrt_one_minus_alpha_bar);
    for (float& v : neg) v = -v;
    m.neg_sqrt_1m_abar = m.alloc<float>(cfg.timesteps, bytes);
    backend.upload(m.neg_sqrt_1m_abar, neg.data(), sizeof(float) * cfg.timesteps);
    m.v_target = m.alloc<float>(NB * m.chw(), bytes);
  }

  int64_t max_tensor = 0;
  for (auto& b : m.blocks) {
    const int64_t hw = static_cast<int64_t>(b.H) * b.W;
    max_tensor = std::max({max_tensor, NB * b.cin * hw, NB * b.cout * hw});
    b.in = m.alloc_activation(NB * b.cin * hw, bytes);
    b.z1 = m.alloc_activation(NB * b.cout * hw, bytes);
    b.y1 = m.alloc_activation(NB * b.cout * hw, bytes);
    b.z2 = m.alloc_activation(NB * b.cout * hw, bytes);
    b.y2 = m.alloc_activation(NB * b.cout * hw, bytes);
    b.mean1 = m.alloc<float>(b.cout, bytes);
    b.istd1 = m.alloc<float>(b.cout, bytes);
    b.mean2 = m.alloc<float>(b.cout, bytes);
    b.istd2 = m.alloc<float>(b.cout, bytes);
  }
  m.gx.assign(D + 1, nullptr);
  for (int i = 1; i <= D; ++i) {
    const Impl::Block& b = m.blocks[i - 1];
    m.gx[i] = m.alloc_activation(NB * b.cout * b.H * b.W, bytes);
  }
  // Scratch activations; also float32 scratch for the model's input/output
  // conversions, so always float32-sized.
  m.s1 = m.alloc<float>(max_tensor, bytes);
  m.s2 = m.alloc<float>(max_tensor, bytes);
  m.s3 = m.alloc<float>(max_tensor, bytes);
  m.t_dev = m.alloc<int32_t>(NB, bytes);
  m.emb = m.alloc<float>(NB * cfg.time_dim, bytes);
  int widest_te = 0;
  for (const auto& te : m.tes) widest_te = std::max(widest_te, te.c);
  m.te_dh = m.alloc<float>(NB * widest_te, bytes);
  for (auto& te : m.tes) {
    te.h = m.alloc<float>(NB * te.c, bytes);
    te.s = m.alloc<float>(NB * te.c, bytes);
    te.o = m.alloc<float>(NB * te.c, bytes);
    te.dout = m.alloc<float>(NB * te.c, bytes);
    if (!m.conditional()) te.by_t = m.alloc<float>(static_cast<int64_t>(cfg.timesteps) * te.c, bytes);
  }
  const int64_t io = NB * m.chw();
  m.x_in = m.alloc<float>(io, bytes);
  m.out = m.alloc<float>(io, bytes);
  m.dout = m.alloc<float>(io, bytes);
  m.dx = m.alloc<float>(io, bytes);
  m.pixels = m.alloc<uint8_t>(io, bytes);
  m.flips = m.alloc<uint8_t>(NB, bytes);
  m.x0 = m.alloc<float>(io, bytes);
  m.eps = m.alloc<float>(io, bytes);
  m.xt = m.alloc<float>(io, bytes);
  m.loss_ring = m.alloc<float>(kLossRing, bytes);
  m.grad_norm = m.alloc<float>(kLossRing, bytes);
  m.snr_weights = m.alloc<float>(cfg.timesteps, bytes);
  m.sample_x = m.alloc<float>(io, bytes);
  m.sample_eps = m.alloc<float>(io, bytes);
  m.sample_x0_prev = m.alloc<float>(io, bytes);
  m.sample_x0_prev2 = m.alloc<float>(io, bytes);
  m.known_x0 = m.alloc<float>(io, bytes);
  m.known_keep = m.alloc<float>(io, bytes);
  m.host_t.assign(NB, 0);
  if (cfg.num_classes > 0) {
    m.labels_dev = m.alloc<int32_t>(NB, bytes);
    m.null_labels = m.alloc<int32_t>(NB, bytes);
    m.demb = m.alloc<float>(static_cast<int64_t>(m.tes.size()) * NB * cfg.time_dim, bytes);
    m.host_labels.assign(NB, cfg.num_classes);
    backend.upload(m.null_labels, m.host_labels.data(), sizeof(int32_t) * NB);
  }
  init(0);
}

UNet::~UNet() { backend_.step_forget(uid_); }

int64_t UNet::sample_size() const { return impl_->chw(); }

const TensorInfo& UNet::param_tensor(int i) const {
  if (i < 0 || i >= num_param_tensors()) throw Error("param_tensor: index " + std::to_string(i) + " out of range");
  return params_[i];
}
const TensorInfo& UNet::buffer_tensor(int i) const {
  if (i < 0 || i >= num_buffer_tensors()) throw Error("buffer_tensor: index " + std::to_string(i) + " out of range");
  return buffers_[i];
}

void UNet::init(uint64_t seed) {
  Impl& m = *impl_;
  std::vector<float> host(num_params_);
  for (size_t k = 0; k < params_.size(); ++k) {
    const TensorInfo& t = params_[k];
    const std::string& n = t.name;
    float* dst0 = host.data() + t.offset;
    if (static_cast<int64_t>(t.offset) == m.class_w) {  // nn.Embedding's default: N(0, 1)
      for (int64_t i = 0; i < t.size; ++i) dst0[i] = rng::gaussian_at(seed, kInitStreamBase + k, static_cast<uint64_t>(i));
      continue;
    }
    const bool is_bn = n.find(".conv.1.") != std::string::npos || n.find(".conv.4.") != std::string::npos;
    float* dst = host.data() + t.offset;
    if (is_bn) {
      const bool weight = n.size() >= 7 && n.compare(n.size() - 7, 7, ".weight") == 0;
      std::fill(dst, dst + t.size, weight ? 1.0f : 0.0f);
      continue;
    }
    // fan_in as torch.nn.init._calculate_fan_in_and_fan_out of the weight.
    const TensorInfo& w = (t.shape.size() == 1) ? params_[k - 1] : t;
    int64_t receptive = 1;
    for (size_t d = 2; d < w.shape.size(); ++d) receptive *= w.shape[d];
    int64_t fan_in = w.shape[1] * receptive;
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    for (int64_t i = 0; i < t.size; ++i) {
      float u = rng::uniform_at(seed, kInitStreamBase + k, static_cast<uint64_t>(i));
      dst[i] = static_cast<float>((2.0 * u - 1.0) * bound);
    }
  }
  set_params(host.data());
  std::vector<float> zeros(2 * num_params_, 0.0f);
  set_adam_state(zeros.data());
  std::vector<float> stats(num_buffers_);
  for (const auto& b : buffers_) {
    const bool var = b.name.find("running_var") != std::string::npos;
    std::fill(stats.begin() + b.offset, stats.begin() + b.offset + b.size, var ? 1.0f : 0.0f);
  }
  set_buffers(stats.data());
  if (m.ema) start_ema();
  std::vector<float> table(static_cast<size_t>(cfg_.timesteps) * cfg_.time_dim);
  sinusoidal_table(cfg_.timesteps, cfg_.time_dim, table.data());
  set_time_table(table.data());
  backend_.fill(m.grads, 0.0f, num_params_);
  adam_step_ = 0;
  bn_batches_ = 0;
  m.losses_written_upto = -1;
}

void UNet::get_params(float* host) const { backend_.download(host, impl_->params, sizeof(float) * num_params_); }
void UNet::set_params(const float* host) {
  ++weights_generation_;  // first: a failed upload may have changed part of them
  backend_.upload(impl_->params, host, sizeof(float) * num_params_);
}
void UNet::get_grads(float* host) const { backend_.download(host, impl_->grads, sizeof(float) * num_params_); }
void UNet::get_adam_state(float* host) const {
  backend_.download(host, impl_->adam, sizeof(float) * num_params_);
  backend_.download(host + num_params_, impl_->adam + impl_->v_offset, sizeof(float) * num_params_);
}
void UNet::set_adam_state(const float* host) {
  backend_.upload(impl_->adam, host, sizeof(float) * num_params_);
  backend_.upload(impl_->adam + impl_->v_offset, host + num_params_, sizeof(float) * num_params_);
}
void UNet::get_buffers(float* host) const { backend_.download(host, impl_->buffers, sizeof(float) * num_buffers_); }
void UNet::set_buffers(const float* host) { backend_.upload(impl_->buffers, host, sizeof(float) * num_buffers_); }
void UNet::get_time_table(float* host) const {
  backend_.download(host, impl_->table, sizeof(float) * cfg_.timesteps * cfg_.time_dim);
}
void UNet::set_time_table(const float* host) {
  ++weights_generation_;
  backend_.upload(impl_->table, host, sizeof(float) * cfg_.timesteps * cfg_.time_dim);
}

static void check_labels(const char* what, const int32_t* labels, int n, int limit) {
  for (int i = 0; i < n; ++i)
    if (labels[i] < 0 || labels[i] >= limit)
      throw Error(std::string(what) + ": label " + std::to_string(labels[i]) + " of sample " + std::to_string(i) +
                  " is outside [0, " + std::to_string(limit) + ")");
}

static void check_batch(int n, int max_batch, const char* what) {
  if (n < 1 || n > max_batch)
    throw Error(std::string(what) + ": batch " + std::to_string(n) + " is outside [1, max_batch = " +
                std::to_string(max_batch) + "]");
}

void UNet::forward(const float* x, const int32_t* t, float* out, int n, bool training) {
  forward(x, t, nullptr, out, n, training);
}

void UNet::forward(const float* x, const int32_t* t, const int32_t* labels, float* out, int n, bool training) {
  check_batch(n, max_batch_, "UNet::forward");
  Impl& m = *impl_;
  if (t != m.t_dev) backend_.copy(m.t_dev, t, sizeof(int32_t) * n);
  const int32_t* lab = nullptr;
  if (m.conditional()) {
    if (!labels || labels == m.null_labels) {
      lab = m.null_labels;
    } else {
      if (labels != m.labels_dev) backend_.copy(m.labels_dev, labels, sizeof(int32_t) * n);
      lab = m.labels_dev;
    }
  }
  m.forward(x, lab, out, n, training);
  if (training) {
    m.train_labels = lab;
    m.last_training_n = n;
    ++bn_batches_;
  } else {
    m.last_training_n = -1;
  }
}

void UNet::backward(const float* dout, float* dx, int n) {
  Impl& m = *impl_;
  if (m.last_training_n != n)
    throw Error("UNet::backward: needs a training forward of the same batch (" + std::to_string(n) +
                ") just before it");
  m.backward(dout, dx, n);
}

void UNet::forward_host(const float* x, const int32_t* t, float* out, int n, bool training) {
  forward_host(x, t, nullptr, out, n, training);
}

// Host images through the network: x into x_in, t and labels into the
// device; returns the output (m.out).
const float* UNet::forward_on_device(const float* x, const int32_t* t, const int32_t* labels, int n, bool training,
                                     const char* what) {
  check_batch(n, max_batch_, what);
  for (int i = 0; i < n; ++i)
    if (t[i] < 0 || t[i] >= cfg_.timesteps)
      throw Error(std::string(what) + ": timestep " + std::to_string(t[i]) + " of sample " + std::to_string(i) +
                  " is outside [0, " + std::to_string(cfg_.timesteps) + ")");
  Impl& m = *impl_;
  backend_.upload(m.x_in, x, sizeof(float) * static_cast<size_t>(n) * m.chw());
  backend_.upload(m.t_dev, t, sizeof(int32_t) * n);
  const int32_t* lab = nullptr;
  if (labels && m.conditional()) {
    check_labels(what, labels, n, cfg_.num_classes + 1);
    backend_.upload(m.labels_dev, labels, sizeof(int32_t) * n);
    lab = m.labels_dev;
  }
  forward(m.x_in, m.t_dev, lab, m.out, n, training);
  return m.out;
}

void UNet::forward_host(const float* x, const int32_t* t, const int32_t* labels, float* out, int n, bool training) {
  const float* y = forward_on_device(x, t, labels, n, training, "UNet::forward_host");
  backend_.download(out, y, sizeof(float) * static_cast<size_t>(n) * impl_->chw());
}

void UNet::predict_noise_host(const float* x, const int32_t* t, const int32_t* labels, float* out, int n) {
  Impl& m = *impl_;
  const float* y = forward_on_device(x, t, labels, n, false, "UNet::predict_noise_host");
  if (m.v_prediction()) {
    backend_.noise_add(y, m.x_in, m.t_dev, m.sqrt_abar, m.sqrt_1m_abar, m.dout, n, m.chw());
    y = m.dout;
  }
  backend_.download(out, y, sizeof(float) * static_cast<size_t>(n) * m.chw());
}

void UNet::backward_host(const float* dout, float* dx, int n) {
  Impl& m = *impl_;
  const size_t bytes = sizeof(float) * static_cast<size_t>(n) * m.chw();
  backend_.upload(m.dout, dout, bytes);
  backward(m.dout, dx ? m.dx : nullptr, n);
  if (dx) backend_.download(dx, m.dx, bytes);
  else backend_.synchronize();
}

void UNet::train_step(const uint8_t* pixels, const uint8_t* flips, int n, const AdamParams& hp,
                      uint64_t seed, int64_t step) {
  train_step(pixels, flips, nullptr, n, hp, seed, step);
}

void UNet::train_step(const uint8_t* pixels, const uint8_t* flips, const int32_t* labels, int n,
                      const AdamParams& hp, uint64_t seed, int64_t step) {
  check_batch(n, max_batch_, "UNet::train_step");
  if (step < 0) throw Error("UNet::train_step: step must be >= 0");
  Impl& m = *impl_;
  if (m.conditional()) {
    if (!labels) throw Error("UNet::train_step: a class-conditional model needs the batch's labels");
    check_labels("UNet::train_step", labels, n, cfg_.num_classes);
  }
  const int64_t per = m.chw();
  const size_t count = static_cast<size_t>(n) * per;
  backend_.upload(m.pixels, pixels, count);
  if (flips) backend_.upload(m.flips, flips, n);
  if (m.conditional()) {
    for (int i = 0; i < n; ++i)
      m.host_labels[i] = rng::uniform_at(seed, train_label_stream(step), static_cast<uint64_t>(i)) < cond_drop_
                             ? cfg_.num_classes
                             : labels[i];
    backend_.upload(m.labels_dev, m.host_labels.data(), sizeof(int32_t) * n);
  }
  AdamParams p = hp;
  p.step = adam_step_ + 1;
  const bool ema_on = m.ema && ema_decay_ > 0.0;
  const double decay = ema_on ? ema_decay_at(ema_decay_, adam_step_, ema_power_) : 0.0;
  const int64_t bn_batches_before = bn_batches_;
  // The device part: the same op calls for every step of this n (only the
  // random streams, the loss slot, Adam's step and the EMA decay move), so
  // the backend may record it once and replay it.
  const bool clip = max_grad_norm_ > 0.0, weighted = snr_gamma_ > 0.0;
  const uint64_t key = (static_cast<uint64_t>(n) << 4) | (weighted ? 8u : 0u) | (clip ? 4u : 0u) | (ema_on ? 2u : 0u) |
                       (flips ? 1u : 0u);
  auto device_part = [&] {
    backend_.images_to_float(m.pixels, flips ? m.flips : nullptr, m.x0, n, cfg_.in_channels,
                             cfg_.height, cfg_.width);
    backend_.uniform_int(m.t_dev, n, cfg_.timesteps, seed, train_t_stream(step));
    backend_.gaussian(m.eps, count, seed, train_eps_stream(step), 0);
    backend_.noise_add(m.x0, m.eps, m.t_dev, m.sqrt_abar, m.sqrt_1m_abar, m.xt, n, per);
    // The target: the noise, or v = sqrt(abar) eps - sqrt(1 - abar) x0 (noise_add's form).
    const float* target = m.eps;
    if (m.v_prediction()) {
      backend_.noise_add(m.eps, m.x0, m.t_dev, m.sqrt_abar, m.neg_sqrt_1m_abar, m.v_target, n, per);
      target = m.v_target;
    }
    forward(m.xt, m.t_dev, m.labels_dev, m.out, n, true);
    if (weighted)
      backend_.mse_weighted_forward_backward(m.out, target, m.t_dev, m.snr_weights, m.loss_ring + (step % kLossRing),
                                             m.dout, n, static_cast<size_t>(per));
    else
      backend_.mse_forward_backward(m.out, target, m.loss_ring + (step % kLossRing), m.dout, count);
    m.backward(m.dout, nullptr, n);
    if (clip)
      backend_.clip_grad_norm(m.grads, m.grad_norm + (step % kLossRing), num_params_, static_cast<float>(max_grad_norm_));
    if (ema_on) {  // the parameters' EMA in Adam's pass (adam_ema_update), then the BatchNorm statistics'
      backend_.adam_ema_update(m.params, m.grads, m.adam, m.adam + m.v_offset, m.ema, num_params_, p, decay);
      backend_.ema_update(m.ema + num_params_, m.buffers, num_buffers_, decay);
    } else {
      backend_.adam_update(m.params, m.grads, m.adam, m.adam + m.v_offset, num_params_, p);
    }
  };
  ++weights_generation_;  // before the device part: a step that fails after Adam has still moved the weights
  bool ran = false;
  for (int attempt = 0; attempt < 2 && !ran; ++attempt) {
    bn_batches_ = bn_batches_before;
    backend_.step_begin(uid_, key);
    try {
      device_part();
    } catch (...) {
      backend_.step_abort();
      bn_batches_ = bn_batches_before;
      throw;
    }
    ran = backend_.step_end();  // false: a recording failed and nothing ran; run it again
  }
  if (!ran) throw Error("UNet::train_step: the backend did not run the step");
  adam_step_ = p.step;
  m.losses_written_upto = std::max(m.losses_written_upto, step);
}

void UNet::read_losses(float* host, int64_t first_step, int count) {
  read_ring(impl_->loss_ring, host, first_step, count, "UNet::read_losses");
}

void UNet::read_grad_norms(float* host, int64_t first_step, int count) {
  if (!(max_grad_norm_ > 0.0)) throw Error("UNet::read_grad_norms: the model clips no gradients (set_max_grad_norm)");
  read_ring(impl_->grad_norm, host, first_step, count, "UNet::read_grad_norms");
}

// Values of the last kLossRing training steps, one per step, in a ring indexed by step.
void UNet::read_ring(const float* ring, float* host, int64_t first_step, int count, const char* what) {
  Impl& m = *impl_;
  if (count <= 0) return;
  const int64_t last = first_step + count - 1;
  if (first_step < 0 || count > kLossRing || last > m.losses_written_upto ||
      last - first_step >= kLossRing || first_step <= m.losses_written_upto - kLossRing)
    throw Error(std::string(what) + ": steps [" + std::to_string(first_step) + ", " + std::to_string(last) +
                "] are not among the last " + std::to_string(kLossRing) + " trained steps");
  backend_.synchronize();
  for (int i = 0; i < count;) {
    const int64_t slot = (first_step + i) % kLossRing;
    const int run = static_cast<int>(std::min<int64_t>(count - i, kLossRing - slot));
    backend_.download(host + i, ring + slot, sizeof(float) * run);
    i += run;
  }
}

void UNet::sample_begin(int n, uint64_t seed, int64_t first_index) {
  check_batch(n, max_batch_, "UNet::sample_begin");
  if (first_index < 0) throw Error("UNet::sample_begin: first_index must be >= 0");
  Impl& m = *impl_;
  m.sample_n = n;
  m.sample_seed = seed;
  m.sample_first = first_index;
  const uint64_t per = static_cast<uint64_t>(m.chw());
  backend_.gaussian(m.sample_x, static_cast<size_t>(n) * per, seed, kSampleInitStream,
                    static_cast<uint64_t>(first_index) * per);
  m.sample_labels = m.null_labels;
  m.sample_pair = false;
  m.guidance = 1.0f;
  m.forget_dpm_history();
  m.sample_level_steps = 0;
  m.known_set = false;
  m.repaint_draws = 0;
}

void UNet::sample_set_labels(const int32_t* labels, float guidance) {
  Impl& m = *impl_;
  if (m.sample_n <= 0) throw Error("UNet::sample_set_labels: call sample_begin first");
  if (!m.conditional()) throw Error("UNet::sample_set_labels: the model is not class-conditional");
  if (!std::isfinite(guidance)) throw Error("UNet::sample_set_labels: the guidance scale must be finite");
  const int n = m.sample_n;
  m.guidance = guidance;
  m.sample_pair = labels && guidance != 1.0f && guidance != 0.0f;
  if (!labels || guidance == 0.0f) {
    m.sample_labels = m.null_labels;
    return;
  }
  check_labels("UNet::sample_set_labels", labels, n, cfg_.num_classes + 1);
  if (m.sample_pair && 2 * n > max_batch_)
    throw Error("UNet::sample_set_labels: guidance runs the conditional and unconditional passes as one batch of " +
                std::to_string(2 * n) + ", more than max_batch = " + std::to_string(max_batch_));
  std::copy(labels, labels + n, m.host_labels.begin());
  if (m.sample_pair) std::fill(m.host_labels.begin() + n, m.host_labels.begin() + 2 * n, cfg_.num_classes);
  backend_.upload(m.labels_dev, m.host_labels.data(), sizeof(int32_t) * (m.sample_pair ? 2 * n : n));
  m.sample_labels = m.labels_dev;
}

// One reverse step: t into the device, then, as one recorded backend step
// (Backend::step_begin), the noise prediction and `update` (the step's op,
// whose coefficients and noise stream are per-step values), so that the CUDA
// backend replays a sampling's steps as one graph launch each from its third
// step on. The recording's key holds what fixes the step's op sequence and
// pointers: the batch, the update, a guided pair, the labels buffer.
void UNet::sample_device_step(int t, SampleUpdate kind, const char* what, const std::function<void()>& update) {
  Impl& m = *impl_;
  if (m.sample_n <= 0) throw Error(std::string(what) + ": call sample_begin first");
  if (t < 0 || t >= cfg_.timesteps)
    throw Error(std::string(what) + ": t = " + std::to_string(t) + " is outside [0, " + std::to_string(cfg_.timesteps) + ")");
  const int rows = m.sample_pair ? 2 * m.sample_n : m.sample_n;
  std::fill(m.host_t.begin(), m.host_t.begin() + rows, t);
  backend_.upload(m.t_dev, m.host_t.data(), sizeof(int32_t) * rows);
  if (!m.conditional() && m.by_t_generation != weights_generation_) {
    m.build_time_tables();  // outside the recorded step: once per change of the weights
    m.by_t_generation = weights_generation_;
  }
  m.sampling_by_t = !m.conditional();
  struct Reset {
    bool& flag;
    ~Reset() { flag = false; }
  } reset{m.sampling_by_t};
  const uint64_t key = kSampleStepKey | (static_cast<uint64_t>(m.sample_n) << 8) |
                       (static_cast<uint64_t>(kind) << 2) | (m.sample_pair ? 2u : 0u) |
                       (m.sample_labels == m.labels_dev ? 1u : 0u);
  bool ran = false;
  for (int attempt = 0; attempt < 2 && !ran; ++attempt) {
    backend_.step_begin(uid_, key);
    try {
      predict_eps();
      update();
    } catch (...) {
      backend_.step_abort();
      throw;
    }
    ran = backend_.step_end();  // false: a recording failed and nothing ran; run it again
  }
  if (!ran) throw Error(std::string(what) + ": the backend did not run the step");
}

// The noise prediction of the current samples at the t in t_dev into
// sample_eps: one eval forward, or for a guided pair one of 2n followed by
// guided_eps.
void UNet::predict_eps() {
  Impl& m = *impl_;
  const int n = m.sample_n;
  const int rows = m.sample_pair ? 2 * n : n;
  const bool v = m.v_prediction();
  // The network's output (guided: mixed; linear, so mixing v then converting is
  // converting then mixing), then for a v model eps = sqrt(abar) v + sqrt(1 - abar) x_t.
  float* pred = v ? m.out : m.sample_eps;
  if (!m.sample_pair) {
    forward(m.sample_x, m.t_dev, m.sample_labels, pred, n, false);
  } else {
    const size_t count = static_cast<size_t>(n) * m.chw();
    backend_.copy(m.x_in, m.sample_x, sizeof(float) * count);
    backend_.copy(m.x_in + count, m.sample_x, sizeof(float) * count);
    forward(m.x_in, m.t_dev, m.labels_dev, m.out, rows, false);
    pred = v ? m.x_in : m.sample_eps;  // x_in is free again
    backend_.guided_eps(m.out, m.out + count, pred, count, m.guidance);
  }
  if (v) backend_.noise_add(pred, m.sample_x, m.t_dev, m.sqrt_abar, m.sqrt_1m_abar, m.sample_eps, n, m.chw());
}

void UNet::sample_step(int t, float x0_clip) {
  if (!(x0_clip > 0.0f)) return sample_step(t);
  Impl& m = *impl_;
  const DdimCoefficients k = m.sched.ddpm_posterior(t, x0_clip);  // checks t
  sample_device_step(t, SampleUpdate::kThroughX0, "UNet::sample_step", [&] {
    backend_.ddim_step(m.sample_x, m.sample_eps, m.sample_x, m.sample_n, static_cast<size_t>(m.chw()), k,
                       m.sample_seed, sample_step_stream(t), m.sample_first);
  });
}

void UNet::sample_step(int t) {
  Impl& m = *impl_;
  sample_device_step(t, SampleUpdate::kAncestral, "UNet::sample_step", [&] {
    backend_.reverse_step(m.sample_x, m.sample_eps, m.sample_x, m.sample_n, static_cast<size_t>(m.chw()),
                          m.sched.c_x[t], m.sched.c_eps[t], m.sched.sigma[t], m.sample_seed,
                          sample_step_stream(t), m.sample_first);
  });
}

void UNet::sample_step_dpm_solver(int t, int t_next, int t_last, bool sde, float x0_clip, int t_last2) {
  Impl& m = *impl_;
  const DpmSolverCoefficients k = m.sched.dpm_solver(t, t_next, t_last, sde, x0_clip, t_last2);  // checks the times
  if (t_last2 >= 0 && t_last2 != m.sample_dpm_before)
    throw Error("UNet::sample_step_dpm_solver: a third-order step with t_last2 = " + std::to_string(t_last2) +
                " needs the step before the previous one to have been at t = " + std::to_string(t_last2) + " (it was " +
                (m.sample_dpm_before < 0 ? std::string("none") : "at t = " + std::to_string(m.sample_dpm_before)) + ")");
  if (t_last >= 0 && (t_last != m.sample_dpm_last || t != m.sample_dpm_next))
    throw Error("UNet::sample_step_dpm_solver: a second-order step from t = " + std::to_string(t) + " with t_last = " +
                std::to_string(t_last) + " needs this sampling's previous DPM-Solver step to have gone from " +
                std::to_string(t_last) + " to " + std::to_string(t) + " (" +
                (m.sample_dpm_last < 0 ? std::string("none yet")
                                       : "it went from " + std::to_string(m.sample_dpm_last) + " to " +
                                             std::to_string(m.sample_dpm_next)) +
                ")");
  sample_device_step(t, SampleUpdate::kDpmSolver, "UNet::sample_step_dpm_solver", [&] {
    backend_.dpm_solver_step(m.sample_x, m.sample_eps, m.sample_x0_prev, m.sample_x0_prev2, m.sample_x, m.sample_n,
                             static_cast<size_t>(m.chw()), k, m.sample_seed, sample_step_stream(t), m.sample_first);
  });
  const int previous = m.sample_dpm_last;
  m.forget_dpm_history();  // a step between sigmas that follows starts afresh
  m.sample_dpm_before = previous;
  m.sample_dpm_last = t;
  m.sample_dpm_next = t_next;
}

void UNet::sample_step_dpm_solver_sigmas(int t, double sigma, double sigma_next, double sigma_last, bool sde,
                                         float x0_clip, double sigma_last2) {
  Impl& m = *impl_;
  const DpmSolverCoefficients k =
      Schedule::dpm_solver_sigmas(sigma, sigma_next, sigma_last, sde, x0_clip, sigma_last2);  // checks the levels
  auto text = [](double v) { return number_text(v, 17); };  // all the digits: the levels must match exactly
  if (sigma_last2 > 0.0 && sigma_last2 != m.sample_sigma_before)
    throw Error("UNet::sample_step_dpm_solver_sigmas: a third-order step with sigma_last2 = " + text(sigma_last2) +
                " needs the step before the previous one to have been at that sigma (it was " +
                (m.sample_sigma_before > 0.0 ? "at " + text(m.sample_sigma_before) : std::string("none")) + ")");
  if (sigma_last > 0.0 && (sigma_last != m.sample_sigma_last || sigma != m.sample_sigma_next))
    throw Error("UNet::sample_step_dpm_solver_sigmas: a second-order step from sigma = " + text(sigma) +
                " with sigma_last = " + text(sigma_last) + " needs this sampling's previous step to have gone from " +
                text(sigma_last) + " to " + text(sigma) + " (" +
                (m.sample_sigma_last > 0.0 ? "it went from " + text(m.sample_sigma_last) + " to " + text(m.sample_sigma_next)
                                           : std::string("none yet")) +
                ")");
  const int step = m.sample_level_steps;
  sample_device_step(t, SampleUpdate::kDpmSolver, "UNet::sample_step_dpm_solver_sigmas", [&] {
    backend_.dpm_solver_step(m.sample_x, m.sample_eps, m.sample_x0_prev, m.sample_x0_prev2, m.sample_x, m.sample_n,
                             static_cast<size_t>(m.chw()), k, m.sample_seed, sample_level_stream(step), m.sample_first);
  });
  const double previous = m.sample_sigma_last;
  m.forget_dpm_history();  // an integer-t step that follows starts afresh
  m.sample_sigma_before = previous;
  m.sample_sigma_last = sigma;
  m.sample_sigma_next = sigma_next;
  m.sample_level_steps = step + 1;
}

void UNet::sample_step_ddim(int t, int t_prev, double eta, float x0_clip) {
  Impl& m = *impl_;
  const DdimCoefficients k = m.sched.ddim(t, t_prev, eta, x0_clip);  // checks t, t_prev, eta
  sample_device_step(t, SampleUpdate::kThroughX0, "UNet::sample_step_ddim", [&] {
    backend_.ddim_step(m.sample_x, m.sample_eps, m.sample_x, m.sample_n, static_cast<size_t>(m.chw()), k,
                       m.sample_seed, sample_step_stream(t), m.sample_first);
  });
}

// ---- EMA ---------------------------------------------------------------------

// Allocates the EMA buffer on first use and starts it at the current weights.
void UNet::start_ema() {
  Impl& m = *impl_;
  if (!m.ema) m.ema = m.alloc<float>(num_params_ + num_buffers_, backend_bytes_);
  backend_.copy(m.ema, m.params, sizeof(float) * num_params_);
  backend_.copy(m.ema + num_params_, m.buffers, sizeof(float) * num_buffers_);
}

void UNet::set_ema(double decay) {
  if (!(decay >= 0.0 && decay < 1.0)) throw Error("UNet::set_ema: decay must be in [0, 1), got " + std::to_string(decay));
  if (decay > 0.0 && !impl_->ema) start_ema();
  ema_decay_ = decay;
}

bool UNet::has_ema() const { return impl_->ema != nullptr; }

void UNet::get_ema_params(float* host) const {
  if (!impl_->ema) throw Error("UNet::get_ema_params: the model keeps no EMA (set_ema)");
  backend_.download(host, impl_->ema, sizeof(float) * num_params_);
}

void UNet::set_ema_params(const float* host) {
  if (!impl_->ema) start_ema();
  backend_.upload(impl_->ema, host, sizeof(float) * num_params_);
}

void UNet::snapshot_begin(float* params, float* buffers, float* adam, float* ema, float* table) {
  Impl& m = *impl_;
  if (!params || !buffers || !adam || !table) throw Error("UNet::snapshot_begin: a host buffer is null");
  if (m.ema && !ema) throw Error("UNet::snapshot_begin: the model keeps an EMA; its host buffer is null");
  backend_.download_async(params, m.params, sizeof(float) * num_params_);
  backend_.download_async(buffers, m.buffers, sizeof(float) * num_buffers_);
  backend_.download_async(adam, m.adam, sizeof(float) * num_params_);
  backend_.download_async(adam + num_params_, m.adam + m.v_offset, sizeof(float) * num_params_);
  if (m.ema) backend_.download_async(ema, m.ema, sizeof(float) * (num_params_ + num_buffers_));
  backend_.download_async(table, m.table, sizeof(float) * cfg_.timesteps * cfg_.time_dim);
  backend_.fence_record();
}

void UNet::snapshot_wait() { backend_.fence_wait(); }

void UNet::get_ema_buffers(float* host) const {
  if (!impl_->ema) throw Error("UNet::get_ema_buffers: the model keeps no EMA (set_ema)");
  backend_.download(host, impl_->ema + num_params_, sizeof(float) * num_buffers_);
}

void UNet::set_ema_buffers(const float* host) {
  if (!impl_->ema) start_ema();
  backend_.upload(impl_->ema + num_params_, host, sizeof(float) * num_buffers_);
}

void UNet::swap_ema() {
  Impl& m = *impl_;
  if (!m.ema) throw Error("UNet::swap_ema: the model keeps no EMA (set_ema)");
  // The gradient buffer (num_params floats) holds either half: every BatchNorm
  // channel has two statistics and two affine parameters, so num_buffers <= num_params.
  auto swap = [&](float* a, float* b, int64_t n) {
    const size_t bytes = sizeof(float) * static_cast<size_t>(n);
    backend_.copy(m.grads, a, bytes);
    backend_.copy(a, b, bytes);
    backend_.copy(b, m.grads, bytes);
  };
  ++weights_generation_;  // first: a swap that fails partway has still changed the weights
  swap(m.params, m.ema, num_params_);
  swap(m.buffers, m.ema + num_params_, num_buffers_);
}

void UNet::set_ema_power(double power) {
  if (!(power >= 0.0) || !std::isfinite(power))
    throw Error("UNet::set_ema_power: power must be a finite number >= 0 (0 = the (1+u)/(10+u) warm-up), got " +
                std::to_string(power));
  ema_power_ = power;
}

void UNet::set_snr_gamma(double gamma) {
  if (!(gamma >= 0.0) || !std::isfinite(gamma))
    throw Error("UNet::set_snr_gamma: gamma must be a finite number >= 0 (0 = off), got " + std::to_string(gamma));
  Impl& m = *impl_;
  if (gamma > 0.0) {
    const std::vector<float> w = m.sched.min_snr_weights(gamma, cfg_.prediction == kPredictV);
    backend_.upload(m.snr_weights, w.data(), sizeof(float) * w.size());
  }
  snr_gamma_ = gamma;
}

void UNet::set_max_grad_norm(double max_norm) {
  if (!(max_norm >= 0.0) || !std::isfinite(max_norm) || max_norm > 3.4e38)
    throw Error("UNet::set_max_grad_norm: max_norm must be a finite number >= 0 (0 = off), got " + std::to_string(max_norm));
  max_grad_norm_ = max_norm;
}

void UNet::set_cond_drop(double p) {
  if (!(p >= 0.0 && p <= 1.0)) throw Error("UNet::set_cond_drop: probability must be in [0, 1], got " + std::to_string(p));
  cond_drop_ = p;
}

void UNet::sample_read(float* host, bool clip) {
  Impl& m = *impl_;
  if (m.sample_n <= 0) throw Error("UNet::sample_read: call sample_begin first");
  const size_t count = static_cast<size_t>(m.sample_n) * m.chw();
  if (clip) {
    backend_.clamp(m.sample_x, m.sample_eps, count, -1.0f, 1.0f);
    backend_.download(host, m.sample_eps, sizeof(float) * count);
  } else {
    backend_.download(host, m.sample_x, sizeof(float) * count);
  }
}

void UNet::sample_set_known(const float* x0_host, const float* keep_host) {
  Impl& m = *impl_;
  if (m.sample_n <= 0) throw Error("UNet::sample_set_known: call sample_begin first");
  const size_t count = static_cast<size_t>(m.sample_n) * m.chw();
  for (size_t i = 0; i < count; ++i) {
    if (!std::isfinite(x0_host[i]))
      throw Error("UNet::sample_set_known: known value " + std::to_string(i) + " is not finite");
    if (!(keep_host[i] >= 0.0f && keep_host[i] <= 1.0f))
      throw Error("UNet::sample_set_known: keep value " + std::to_string(i) + " is " + std::to_string(keep_host[i]) +
                  ", outside [0, 1]");
  }
  backend_.upload(m.known_x0, x0_host, sizeof(float) * count);
  backend_.upload(m.known_keep, keep_host, sizeof(float) * count);
  m.known_set = true;
}

void UNet::sample_step_repaint(int t, int t_prev, double eta, float x0_clip) {
  Impl& m = *impl_;
  if (m.sample_n > 0 && !m.known_set) throw Error("UNet::sample_step_repaint: call sample_set_known first");
  const DdimCoefficients k = m.sched.ddim(t, t_prev, eta, x0_clip);  // checks t, t_prev, eta
  const double abar_prev = t_prev < 0 ? 1.0 : m.sched.alpha_bar64[t_prev];
  const float a = static_cast<float>(std::sqrt(abar_prev)), b = static_cast<float>(std::sqrt(1.0 - abar_prev));
  const uint64_t stream = sample_repaint_stream(m.repaint_draws);
  sample_device_step(t, SampleUpdate::kRepaint, "UNet::sample_step_repaint", [&] {
    const size_t per = static_cast<size_t>(m.chw());
    backend_.ddim_step(m.sample_x, m.sample_eps, m.sample_x, m.sample_n, per, k, m.sample_seed, stream, m.sample_first);
    backend_.inpaint_blend(m.known_x0, m.known_keep, m.sample_x, m.sample_n, per, a, b, m.sample_seed, stream,
                           m.sample_first);
  });
  ++m.repaint_draws;
}

void UNet::sample_undo(int t, int span) {
  Impl& m = *impl_;
  const char* what = "UNet::sample_undo";
  if (m.sample_n <= 0) throw Error(std::string(what) + ": call sample_begin first");
  if (span < 1) throw Error(std::string(what) + ": span must be >= 1, got " + std::to_string(span));
  if (t < 0 || static_cast<int64_t>(t) + span > cfg_.timesteps)
    throw Error(std::string(what) + ": t = " + std::to_string(t) + " with span " + std::to_string(span) +
                " goes outside [0, " + std::to_string(cfg_.timesteps) + ")");
  // x = xt_coef * x + sigma * z as a ddim_step whose x_0 and eps terms are 0
  // (its x_0 = x, read from x itself as eps, is multiplied by 0).
  for (int s = t; s < t + span; ++s) {
    const double beta = m.sched.beta[s];
    DdimCoefficients k;
    k.x0_coef = 0.0f;
    k.eps_coef = 0.0f;
    k.xt_coef = static_cast<float>(std::sqrt(1.0 - beta));
    k.sigma = static_cast<float>(std::sqrt(beta));
    backend_.ddim_step(m.sample_x, m.sample_x, m.sample_x, m.sample_n, static_cast<size_t>(m.chw()), k, m.sample_seed,
                       sample_repaint_stream(m.repaint_draws++), m.sample_first);
  }
}

void UNet::sample_noise_known(int t) {
  Impl& m = *impl_;
  const char* what = "UNet::sample_noise_known";
  if (m.sample_n <= 0) throw Error(std::string(what) + ": call sample_begin first");
  if (!m.known_set) throw Error(std::string(what) + ": call sample_set_known first");
  if (t < 0 || t >= cfg_.timesteps)
    throw Error(std::string(what) + ": t = " + std::to_string(t) + " is outside [0, " + std::to_string(cfg_.timesteps) + ")");
  const double abar = m.sched.alpha_bar64[t];
  backend_.inpaint_blend(m.known_x0, m.known_keep, m.sample_x, m.sample_n, static_cast<size_t>(m.chw()),
                         static_cast<float>(std::sqrt(abar)), static_cast<float>(std::sqrt(1.0 - abar)), m.sample_seed,
                         kSampleKnownNoiseStream, m.sample_first);
}

void UNet::sample_set_x(const float* host) {
  Impl& m = *impl_;
  if (m.sample_n <= 0) throw Error("UNet::sample_set_x: call sample_begin first");
  backend_.upload(m.sample_x, host, sizeof(float) * static_cast<size_t>(m.sample_n) * m.chw());
}

}  // namespace ddpm
