// The seed DDPM UNet, its training step and its sampler, written once
// against ddpm::Backend.
//
// Architecture (depth D, widths c_i = base_width * 2^i, time MLPs
// te = Linear(time_dim, c) -> SiLU -> Linear(c, c) on a frozen table row):
//
//   x1      = conv1(x + te1)                      double conv, in -> c0
//   x_{i+1} = down_i(x_i + te_{i+1})              maxpool 2x2, double conv c_{i-1} -> c_i
//   u_0     = x_{D+1}
//   u_j     = up_j(skip = x_{D-j+1}, u_{j-1} + te{j}_up)
//             convT 2x2 c_{D-j+1} -> c_{D-j}, pad to the skip's size,
//             cat([up, skip]), double conv c_{D-j+1} -> c_{D-j}
//   out     = last_conv(u_D)                      1x1, c0 -> in
//
// double conv = (conv3x3 -> BatchNorm -> ReLU) x 2. This is the seed
// notebook's UNet, with the same module names (see param_tensor()).
//
// Class-conditional (num_classes = K > 0): a learned table class_embed
// (K + 1, time_dim), last in the parameter table, whose row label[n] is added
// to the time-table row of sample n before every time MLP; row K is the null
// class ("no label"), which classifier-free guidance trains by dropping
// labels and samples as the unconditional model.
//
// Buffers, each one flat allocation in the backend:
//   params   all trainable tensors, in the order of param_tensor(i)
//   grads    same layout as params
//   adam     2 * num_params: first moments, then second moments
//   buffers  BatchNorm running statistics, in the order of buffer_tensor(i)
//   table    the frozen time-embedding table (timesteps, time_dim)
//   ema      (optional, see set_ema) the exponential moving averages of params
//            and of the BatchNorm running statistics (num_params + num_buffers)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ddpm/backend.h"

namespace ddpm {

struct UNetConfig {
  int in_channels = 3;
  int height = 32;
  int width = 32;
  int base_width = 64;
  int depth = 4;
  int time_dim = 100;
  int timesteps = 1000;
  float beta_start = 1e-4f;
  float beta_end = 0.02f;
  float bn_momentum = 0.1f;
  float bn_eps = 1e-5f;
  int schedule = 0;     // a Schedule kind: 0 linear (beta_start..beta_end), 1 cosine
  int num_classes = 0;  // > 0: class-conditional with this many classes (see above)
  int prediction = 0;   // what the network predicts (Prediction): 0 the noise eps, 1 v
};

// What the network is trained to predict (UNetConfig::prediction): the noise
// (the DDPM paper's, the notebook's), or v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0
// (Salimans & Ho 2022, diffusers' prediction_type "v_prediction"). The sampler
// turns a v prediction into eps = sqrt(abar_t) v + sqrt(1 - abar_t) x_t.
enum Prediction : int { kPredictEpsilon = 0, kPredictV = 1 };

// Noise schedules (UNetConfig::schedule).
enum ScheduleKind : int { kScheduleLinear = 0, kScheduleCosine = 1 };

// Throws ddpm::Error naming the field when a configuration is impossible.
void validate(const UNetConfig& cfg);

// One named view into a flat buffer.
struct TensorInfo {
  std::string name;          // PyTorch state_dict name, e.g. "down1.conv.conv.0.weight"
  int64_t offset = 0;        // in floats, from the start of the buffer
  int64_t size = 0;          // number of floats
  std::vector<int64_t> shape;
};

// The standard sinusoidal table: row t, column j holds
// sin(t / 10000^(2*(j/2)/dim)) for even j and cos(...) for odd j.
void sinusoidal_table(int timesteps, int dim, float* out);

// A beta schedule and the derived per-t coefficients, in double then
// rounded to float (index t in [0, timesteps)).
struct Schedule {
  std::vector<float> beta, alpha, alpha_bar, sqrt_alpha_bar, sqrt_one_minus_alpha_bar;
  // Reverse-step coefficients (see Backend::reverse_step).
  std::vector<float> c_x, c_eps, sigma;
  // alpha_bar in double, for coefficients formed across two timesteps (DDIM).
  std::vector<double> alpha_bar64;
  // Linear betas from beta_start to beta_end (the DDPM paper, the notebook).
  static Schedule linear(int timesteps, float beta_start, float beta_end);
  // Nichol & Dhariwal 2021: alpha_bar(t) = f(t) / f(0), f(t) = cos^2((t/T + s) / (1 + s) * pi/2),
  // beta_t = min(1 - alpha_bar(t+1) / alpha_bar(t), max_beta).
  static Schedule cosine(int timesteps, double s = 0.008, double max_beta = 0.999);
  // The schedule a configuration names.
  static Schedule of(const UNetConfig& cfg);
  // The coefficients of a DDIM step from t to t_prev (t_prev = -1: to x_0,
  // alpha_bar = 1) with noise scale eta >= 0 (0: deterministic), x_0
  // prediction clipped to [-x0_clip, x0_clip] when x0_clip > 0.
  DdimCoefficients ddim(int t, int t_prev, double eta, float x0_clip = 0.0f) const;
  // The ancestral step at t through the posterior q(x_{t-1} | x_t, x_0) with the
  // predicted x_0 clipped to [-x0_clip, x0_clip] (improved-diffusion's p_sample
  // with clip_denoised), sigma = sqrt(beta_t) as reverse_step (0 at t = 0).
  // Unclipped it is reverse_step's update, rewritten.
  DdimCoefficients ddpm_posterior(int t, float x0_clip) const;
  // Min-SNR-gamma loss weights (Hang et al. 2023) for noise prediction, one per
  // timestep: min(snr_t, gamma) / snr_t with snr_t = abar_t / (1 - abar_t), as
  // diffusers' training scripts' --snr_gamma (gamma > 0).
  // For v prediction the weights are min(snr_t, gamma) / (snr_t + 1), diffusers' too.
  std::vector<float> min_snr_weights(double gamma, bool v_prediction = false) const;
  // The coefficients of a DPM-Solver++ step (Lu et al. 2022; diffusers'
  // DPMSolverMultistepScheduler with algorithm_type "dpmsolver++" or, sde =
  // true, "sde-dpmsolver++", solver_order 2, solver_type "midpoint") from t to
  // t_next (-1: to x_0, where sigma = 0, always first order), second order
  // through the x_0 prediction made at t_last (> t), first order when
  // t_last = -1, third order (3M, diffusers' solver_order 3; not for the SDE)
  // through the one made at t_last2 (> t_last) too when t_last2 >= 0;
  // x_0 clipped to [-x0_clip, x0_clip] when x0_clip > 0.
  DpmSolverCoefficients dpm_solver(int t, int t_next, int t_last, bool sde, float x0_clip = 0.0f,
                                   int t_last2 = -1) const;
  // The same step between noise levels given as diffusers' sigmas, sigma =
  // sqrt((1 - abar) / abar) (alpha = 1 / sqrt(1 + sigma^2)), as the Karras
  // schedule's (karras_sigmas): from sigma to sigma_next (0: to x_0, first
  // order), second order through the x_0 prediction made at sigma_last
  // (> sigma; 0: none), third order through the one at sigma_last2 (>
  // sigma_last; 0: none) too. Static in all but its name: the levels need no
  // table.
  static DpmSolverCoefficients dpm_solver_sigmas(double sigma, double sigma_next, double sigma_last, bool sde,
                                                 float x0_clip = 0.0f, double sigma_last2 = 0.0);
  // diffusers' sigma of timestep t, sqrt((1 - abar_t) / abar_t) (in double).
  double sigma_at(int t) const;

 private:
  static Schedule from_betas(const std::vector<double>& betas);
};

// The S timesteps a DDIM sampler visits, evenly spaced as the DDIM paper's
// code (ermongroup/ddim, "uniform" skip): t_i = floor(i * T / S) for
// i = S-1 down to 0, so T = 1000, S = 50 gives 980, 960, ..., 0. 1 <= S <= T.
std::vector<int> ddim_timesteps(int timesteps, int steps);

// RePaint's schedule (Lugmayr et al. 2022) as diffusers'
// RePaintScheduler.set_timesteps(S, jump_length, jump_n_sample) for T
// timesteps: step indices from S-1 down to 0; at every index j < S -
// jump_length that is a multiple of jump_length, the first jump_n_sample - 1
// visits go back up jump_length indices one at a time; each index times
// T / S. A value below the one before it is a model step (to it minus T / S,
// UNet::sample_step_repaint), one above it a jump back from the one before
// (UNet::sample_undo over T / S timesteps). The Java Sampler's
// repaintTimesteps is the same list. 1 <= S <= T, jumps >= 1.
std::vector<int> repaint_timesteps(int timesteps, int steps, int jump_length, int jump_n_sample);

// The S timesteps a DPM-Solver++ sampler visits before its last step to x_0,
// as diffusers' default timestep_spacing "linspace": round(i * (T-1) / S)
// for i = S down to 1 (numpy's rounding), so T = 1000, S = 20 gives 999,
// 949, 899, ..., 50. 1 <= S <= T - 1 (fewer would repeat a timestep).
std::vector<int> dpm_solver_timesteps(int timesteps, int steps);

// The noise levels of a DPM-Solver++ run with diffusers' use_karras_sigmas
// (Karras et al. 2022, rho = 7): S sigmas from the schedule's largest,
// sigma_at(T-1), down to its smallest, sigma_at(0), evenly spaced in
// sigma^(1/rho) (S = 1: the largest alone); the run's last step goes on from
// sigma_at(0) to x_0. 1 <= S <= T - 1.
std::vector<double> karras_sigmas(const Schedule& schedule, int steps);

// The timestep the model sees at noise level sigma, as diffusers'
// _sigma_to_t then round(): t interpolated linearly in log sigma between
// the two timesteps around it (clamped to [0, T-1]), rounded half to even.
// Levels between timesteps close together can round to the same t.
int timestep_of_sigma(const Schedule& schedule, double sigma);

class UNet {
 public:
  // Losses of the last kLossRing training steps are kept on the backend.
  static constexpr int kLossRing = 4096;

  UNet(Backend& backend, const UNetConfig& cfg, int max_batch);
  ~UNet();
  UNet(const UNet&) = delete;
  UNet& operator=(const UNet&) = delete;

  const UNetConfig& config() const { return cfg_; }
  Backend& backend() { return backend_; }
  int max_batch() const { return max_batch_; }
  int64_t sample_size() const;  // C*H*W

  // ---- the parameter table ------------------------------------------------
  int num_param_tensors() const { return static_cast<int>(params_.size()); }
  const TensorInfo& param_tensor(int i) const;
  int64_t num_params() const { return num_params_; }
  int num_buffer_tensors() const { return static_cast<int>(buffers_.size()); }
  const TensorInfo& buffer_tensor(int i) const;
  int64_t num_buffers() const { return num_buffers_; }
  // Bytes of backend memory this model holds.
  int64_t backend_bytes() const { return backend_bytes_; }

  // ---- state (host arrays; sizes as named) ------------------------------------
  // PyTorch's default initialisation (kaiming-uniform(a=sqrt(5)) weights,
  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)) biases, BatchNorm weight 1, bias 0),
  // drawn from Philox with `seed`; running mean 0, var 1; Adam state zero;
  // counters zero; the standard sinusoidal table.
  void init(uint64_t seed);
  void get_params(float* host) const;        // num_params
  void set_params(const float* host);
  void get_grads(float* host) const;         // num_params
  void get_adam_state(float* host) const;    // 2 * num_params (m then v)
  void set_adam_state(const float* host);
  void get_buffers(float* host) const;       // num_buffers
  void set_buffers(const float* host);
  void get_time_table(float* host) const;    // timesteps * time_dim
  void set_time_table(const float* host);
  int64_t adam_step() const { return adam_step_; }          // Adam updates so far
  void set_adam_step(int64_t s) { adam_step_ = s; }
  int64_t bn_batches() const { return bn_batches_; }        // BatchNorm num_batches_tracked
  void set_bn_batches(int64_t s) { bn_batches_ = s; }

  // ---- exponential moving average of the weights ----------------------------
  // decay in [0, 1); > 0 turns the EMA on: train_step then updates it after
  // Adam with ema_decay_at(decay, update), update = adam_step before the step,
  // for the parameters and, with the same decay, the BatchNorm running
  // statistics (so that the averaged weights are sampled with statistics
  // averaged over the same steps, not the live model's latest). The first
  // call with decay > 0 allocates the EMA buffer and starts it at the current
  // parameters and statistics; 0 stops updating it (the buffer stays).
  void set_ema(double decay);
  // The EMA's warm-up: 0 (the default) min(decay, (1+u)/(10+u)); > 0
  // diffusers' use_ema_warmup with this power (ema_decay_at).
  void set_ema_power(double power);
  double ema_decay() const { return ema_decay_; }
  bool has_ema() const;
  void get_ema_params(float* host) const;   // num_params; throws without an EMA
  void set_ema_params(const float* host);   // allocates the EMA buffer if needed
  void get_ema_buffers(float* host) const;  // num_buffers; throws without an EMA

  // A checkpoint's worth of state copied into host memory from
  // Backend::alloc_host, in the order of the work enqueued so far (the state
  // after the last train_step), without waiting for it on CUDA:
  //   params num_params, buffers num_buffers, adam 2 * num_params,
  //   ema (null without an EMA) num_params + num_buffers, table timesteps * time_dim
  // floats. snapshot_wait() blocks until the copies have landed; it may be
  // called from another thread (it waits on the backend's fence only), and
  // the next snapshot_begin must come after it. The scalars (adam_step,
  // bn_batches) are host values: read them when calling snapshot_begin.
  void snapshot_begin(float* params, float* buffers, float* adam, float* ema, float* table);
  void snapshot_wait();
  void set_ema_buffers(const float* host);  // allocates the EMA buffer if needed
  // Exchanges the live parameters and statistics with their EMA (through the
  // gradient buffer, which it clobbers), e.g. to sample from the EMA weights
  // mid-training and back. Throws without an EMA.
  void swap_ema();

  // ---- class conditioning (num_classes > 0) --------------------------------
  int num_classes() const { return cfg_.num_classes; }
  int null_class() const { return cfg_.num_classes; }  // the label that means "no class"
  // Probability that train_step replaces a label by the null class
  // (classifier-free guidance training), in [0, 1]; default 0.1.
  void set_cond_drop(double p);
  double cond_drop() const { return cond_drop_; }
  // Training steps clip the gradients to this global norm before Adam
  // (torch.nn.utils.clip_grad_norm_; 0 = off, the default).
  void set_max_grad_norm(double max_norm);
  double max_grad_norm() const { return max_grad_norm_; }
  // The gradient norms (before clipping) of steps [first_step, first_step +
  // count) of a run with set_max_grad_norm, kept as the losses are (read_losses).
  void read_grad_norms(float* host, int64_t first_step, int count);
  // Training steps weight each sample's gradient by Min-SNR-gamma
  // (Schedule::min_snr_weights; the reported loss stays the plain MSE);
  // 0 = off, the default.
  void set_snr_gamma(double gamma);
  double snr_gamma() const { return snr_gamma_; }

  // ---- forward / backward (backend memory) -----------------------------------
  // x (n, C, H, W), t (n) int32 in [0, timesteps), out (n, C, H, W); n <= max_batch.
  // training = true uses batch statistics, updates the running ones and keeps
  // what backward() needs.
  void forward(const float* x, const int32_t* t, float* out, int n, bool training);
  // The same with class labels (n int32 in backend memory, each in
  // [0, num_classes]) for a conditional model; nullptr = the null class.
  // An unconditional model ignores them.
  void forward(const float* x, const int32_t* t, const int32_t* labels, float* out, int n, bool training);
  // Gradients of sum(out * dout) for the last training forward (same n):
  // parameter gradients into grads (overwrite); dx (n, C, H, W) nullable.
  void backward(const float* dout, float* dx, int n);

  // Host-array versions of the above (for tests and tools).
  void forward_host(const float* x, const int32_t* t, float* out, int n, bool training);
  void forward_host(const float* x, const int32_t* t, const int32_t* labels, float* out, int n, bool training);
  void backward_host(const float* dout, float* dx, int n);
  // The noise prediction of host images (eval forward): the network's output,
  // or for a v-prediction model eps = sqrt(abar_t) v + sqrt(1 - abar_t) x_t.
  void predict_noise_host(const float* x, const int32_t* t, const int32_t* labels, float* out, int n);

  // ---- training -------------------------------------------------------------
  // One DDPM step on a batch of uint8 pixels (n, C, H, W) with optional
  // horizontal flips (n, nullable), both host arrays:
  //   x0 = pixels / 127.5 - 1 (flipped), t ~ U{0..T-1}, eps ~ N(0, 1)
  //   (streams 4*step and 4*step+1 of seed), x_t = noise_add(x0, eps, t),
  //   loss = mse(unet(x_t, t), eps), backward, Adam (hp.step is ignored:
  //   the model's own counter advances).
  // Nothing waits for the device; the loss lands in a ring read by read_losses.
  // The device part is one Backend::step_begin/step_end bracket (keyed by n
  // and whether flips are given), so a backend may replay it as a graph.
  void train_step(const uint8_t* pixels, const uint8_t* flips, int n, const AdamParams& hp,
                  uint64_t seed, int64_t step);
  // The same with class labels (host, n values in [0, num_classes)), required
  // by a conditional model: label i is replaced by the null class when
  // uniform_at(seed, 4*step + 2, i) < cond_drop(). An unconditional model
  // ignores them. With an EMA (set_ema), ema_update of the parameters and of
  // the BatchNorm statistics follows Adam.
  void train_step(const uint8_t* pixels, const uint8_t* flips, const int32_t* labels, int n,
                  const AdamParams& hp, uint64_t seed, int64_t step);
  // Losses of steps [first_step, first_step + count) into host; each must be
  // among the last kLossRing steps trained. Waits for the device.
  void read_losses(float* host, int64_t first_step, int count);

  // ---- sampling (ancestral, BatchNorm in eval mode) ---------------------------
  // Sample k of this call is global sample first_index + k: its noise depends
  // only on (seed, first_index + k), not on how a run is split into batches.
  void sample_begin(int n, uint64_t seed, int64_t first_index);
  // Class labels (host, n values in [0, num_classes], num_classes = the null
  // class; nullptr = all null) and guidance scale w of the images begun by
  // the last sample_begin, for a conditional model: each step's noise
  // prediction is eps_null + w * (eps_label - eps_null) (classifier-free
  // guidance; w = 1: the conditional model alone, one forward pass; w = 0:
  // the unconditional one). Other w run both as one batch of 2n, which must
  // fit max_batch. Without this call a conditional model samples the null class.
  void sample_set_labels(const int32_t* labels, float guidance);
  // One reverse step at t (t = timesteps-1 down to 0).
  void sample_step(int t);
  // The same with the predicted x_0 clipped to [-x0_clip, x0_clip] when
  // x0_clip > 0 (Schedule::ddpm_posterior); x0_clip <= 0 is sample_step(t).
  void sample_step(int t, float x0_clip);
  // One DDIM step from t to t_prev (t > t_prev >= -1; -1 ends at x_0), noise
  // scale eta (0 deterministic, 1 the DDPM posterior's variance), x_0
  // prediction clipped to [-x0_clip, x0_clip] when x0_clip > 0.
  void sample_step_ddim(int t, int t_prev, double eta, float x0_clip = 0.0f);
  // One DPM-Solver++ step from t to t_next (t > t_next >= -1; -1 ends at x_0),
  // second order through the previous step's x_0 prediction when t_last >= 0
  // (which must be the t of this sampling's previous DPM-Solver step), first
  // order when t_last = -1; the SDE variant draws noise as sample_step does.
  // A run over dpm_solver_timesteps passes t_last = -1 at its first step.
  // t_last2 >= 0 (with t_last) makes it third order (the steps before went
  // t_last2 -> t_last -> t).
  void sample_step_dpm_solver(int t, int t_next, int t_last, bool sde, float x0_clip = 0.0f, int t_last2 = -1);
  // One DPM-Solver++ step between noise levels given as sigmas
  // (Schedule::dpm_solver_sigmas; a Karras run's, karras_sigmas), the model
  // evaluated at timestep t (timestep_of_sigma(sigma)): to sigma_next (0: to
  // x_0), second order when sigma_last > 0 (the previous step must have gone
  // from sigma_last to sigma), third order when sigma_last2 > 0 too. The SDE
  // variant's noise is keyed by the step's place in this sampling (its
  // count of such steps since sample_begin), not by t, which can repeat.
  void sample_step_dpm_solver_sigmas(int t, double sigma, double sigma_next, double sigma_last, bool sde,
                                     float x0_clip = 0.0f, double sigma_last2 = 0.0);
  // Current images (n, C, H, W) into host; clip to [-1, 1] first if asked.
  void sample_read(float* host, bool clip);
  // Replaces the current images (n, C, H, W) from host, e.g. to start from a
  // given x_T instead of the seeded one.
  void sample_set_x(const float* host);

  // ---- inpainting: RePaint (Lugmayr et al. 2022), as diffusers' RePaintScheduler ----
  // The known images (host, n x C x H x W, in [-1, 1]) and where they are known
  // (keep, the same shape, each in [0, 1]: 1 = keep the known pixel, 0 =
  // paint it) of the images begun by the last sample_begin.
  void sample_set_known(const float* x0_host, const float* keep_host);
  // One RePaint step from t to t_prev (t > t_prev >= -1): the DDIM step of
  // sample_step_ddim(t, t_prev, eta, x0_clip) for the unknown part, then where
  // keep is 1 the known image noised to t_prev, sqrt(abar_prev) x0 +
  // sqrt(1 - abar_prev) z (x0 itself at t_prev = -1), blended by keep
  // (inpaint_blend). z is the DDIM step's own noise when eta > 0 (diffusers'
  // scheduler draws one tensor for both). Every RePaint step and undo draws
  // fresh noise (a sampling's draws are counted), since RePaint revisits t.
  void sample_step_repaint(int t, int t_prev, double eta, float x0_clip = 0.0f);
  // RePaint's jump back (diffusers' RePaintScheduler.undo_step(x, t)): for
  // s = t, ..., t + span - 1, x = sqrt(1 - beta_s) x + sqrt(beta_s) z, with
  // fresh noise each time (t >= 0, span >= 1, t + span <= timesteps).
  void sample_undo(int t, int span);
  // Image-to-image (SDEdit, Meng et al. 2022; diffusers' img2img): where keep
  // is 1 the current images become the known images of sample_set_known
  // noised to t, sqrt(abar_t) x0 + sqrt(1 - abar_t) z with fresh noise z
  // (blended by keep; elsewhere they stay as they are). A sampler's steps
  // from t on then turn them into images near the known ones.
  void sample_noise_known(int t);

 private:
  struct Impl;
  enum class SampleUpdate : int { kAncestral = 0, kThroughX0 = 1, kDpmSolver = 2, kRepaint = 3 };
  void sample_device_step(int t, SampleUpdate kind, const char* what, const std::function<void()>& update);
  void predict_eps();
  void read_ring(const float* ring, float* host, int64_t first_step, int count, const char* what);
  const float* forward_on_device(const float* x, const int32_t* t, const int32_t* labels, int n, bool training,
                                 const char* what);
  void start_ema();
  Backend& backend_;
  UNetConfig cfg_;
  int max_batch_;
  std::vector<TensorInfo> params_, buffers_;
  int64_t num_params_ = 0, num_buffers_ = 0, backend_bytes_ = 0;
  int64_t adam_step_ = 0, bn_batches_ = 0;
  // Counts the changes of the weights or the time table (set_params,
  // set_time_table, train_step, swap_ema): what the sampling time tables
  // were built from (Impl::by_t_generation).
  uint64_t weights_generation_ = 0;
  double ema_decay_ = 0.0, ema_power_ = 0.0, cond_drop_ = 0.1, max_grad_norm_ = 0.0, snr_gamma_ = 0.0;
  uint64_t uid_;  // this model's name for the backend's step recordings (Backend::step_begin)
  std::unique_ptr<Impl> impl_;
};

}  // namespace ddpm
