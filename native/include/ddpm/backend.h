// The op interface every compute backend implements (CPU reference, CUDA).
//
// The UNet (unet.h) is written once against this interface; a backend only
// supplies memory and ops. All tensors are float32, NCHW, dense (except
// activations in a backend's reduced format, see activation_format), and live
// in the backend's memory space (host memory for the CPU backend, device
// memory for CUDA). Pointers passed to ops must come from Backend::alloc (or
// point inside such a block). Every op is enqueued in order on the backend's single
// stream; only download() and synchronize() wait for the device.
//
// Conventions, used the same everywhere:
//   N batch, C channels, H height, W width, HW = H*W.
//   "Overwrite" means the op writes every element of the output.
//   "Accumulate" (named in the doc of the op) means out += result.
//   Errors are thrown as ddpm::Error (a std::runtime_error) with a message
//   that names the op and the problem; ops never call exit() or abort().
//   Bad values that only a kernel can see (a timestep out of range on the
//   GPU) are recorded on the device and thrown at the next download() or
//   synchronize(); the CPU throws at once.
//   The first call of a convolution shape may block the host (the CUDA
//   backend chooses its algorithm and sizes its workspace then); later
//   calls do not.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace ddpm {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Hyper-parameters of one Adam update (PyTorch semantics, bias-corrected).
// Doubles, as PyTorch holds them: derived constants such as 1 - beta2 are
// formed in double and rounded to float once, exactly as torch does when it
// passes Python floats to its fp32 kernels.
struct AdamParams {
  double lr = 1e-4;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // L2 added to the gradient, as torch.optim.Adam
  int64_t step = 1;           // 1-based step number used for bias correction
};

// The float constants of one Adam step, formed once on the host in double
// and rounded to float exactly as torch does. Every backend's Adam kernel
// uses these, so CPU and GPU agree bit for bit on them.
struct AdamConstants {
  float step_size;     // lr / (1 - beta1^step)
  float bc2_sqrt;      // sqrt(1 - beta2^step)
  float one_minus_b1;  // 1 - beta1 (the lerp weight)
  float one_minus_b2;  // 1 - beta2
  float b2, eps, wd;
};
AdamConstants adam_constants(const AdamParams& p);  // throws ddpm::Error when p.step < 1

// The float constants of one reverse step written through the predicted x_0,
// formed in double on the host (Schedule::ddim, Schedule::ddpm_posterior):
//   x0     = (x_t - sqrt_1m_abar * eps) * inv_sqrt_abar, clipped to
//            [-x0_clip, x0_clip] when x0_clip > 0
//   x_prev = x0_coef * x0 + eps_coef * eps + xt_coef * x_t + sigma * z
// DDIM from t to t_prev (Song et al. 2021, eq. 12): x0_coef = sqrt(abar_prev),
// eps_coef = sqrt(1 - abar_prev - sigma^2), xt_coef = 0,
// sigma = eta * sqrt((1 - abar_prev) / (1 - abar_t)) * sqrt(1 - abar_t / abar_prev).
// The DDPM posterior mean (improved-diffusion's p_sample, which clips x_0):
// x0_coef = sqrt(abar_prev) beta_t / (1 - abar_t), eps_coef = 0,
// xt_coef = sqrt(alpha_t) (1 - abar_prev) / (1 - abar_t), sigma = sqrt(beta_t).
struct DdimCoefficients {
  float inv_sqrt_abar = 1.0f;
  float sqrt_1m_abar = 0.0f;
  float x0_coef = 1.0f;
  float eps_coef = 0.0f;
  float xt_coef = 0.0f;
  float sigma = 0.0f;
  float x0_clip = 0.0f;  // <= 0: no clipping
};

class Backend {
 public:
  virtual ~Backend() = default;

  // ---- identity ---------------------------------------------------------
  virtual std::string name() const = 0;         // "cpu" or "cuda"
  virtual std::string device_name() const = 0;  // e.g. "AMD EPYC (2 threads)"
  virtual int threads() const = 0;              // CPU worker threads (1 on CUDA)

  // ---- memory -----------------------------------------------------------
  // alloc returns memory aligned to at least 64 bytes; it is the only place a
  // backend allocates device memory. free(nullptr) is a no-op.
  virtual void* alloc(size_t bytes) = 0;
  virtual void free(void* p) = 0;  // never throws (it runs in destructors)
  // host -> backend. The host buffer may be reused as soon as upload returns
  // (CUDA stages it through pinned memory and copies asynchronously).
  virtual void upload(void* dst, const void* host_src, size_t bytes) = 0;
  // backend -> host. Waits for all enqueued work first.
  virtual void download(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;  // regions must not overlap
  virtual void fill(float* dst, float value, size_t n) = 0;
  virtual void synchronize() = 0;

  // ---- snapshots: host copies taken while the backend works on ------------
  // Host memory a backend can copy into without waiting (pinned on CUDA,
  // 64-byte aligned host memory on the CPU). free_host(nullptr) is a no-op and
  // free_host never throws.
  virtual void* alloc_host(size_t bytes) {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
    if (!p) throw Error("alloc_host: cannot allocate " + std::to_string(bytes) + " bytes of host memory");
    return p;
  }
  virtual void free_host(void* p) { std::free(p); }
  // backend -> host memory from alloc_host, in the order of the work already
  // enqueued. It may return before the copy is done (CUDA does): the data is
  // there once fence_wait() of a fence recorded after it has returned.
  virtual void download_async(void* host_dst, const void* src, size_t bytes) { download(host_dst, src, bytes); }
  // fence_record marks the work enqueued so far; fence_wait blocks until that
  // work is done. One fence per backend, re-recorded each time; fence_wait may
  // run on another thread than the one driving the backend (it touches only
  // the fence), but never concurrently with fence_record.
  virtual void fence_record() {}
  virtual void fence_wait() {}

  // ---- activation format ------------------------------------------------
  // The feature maps of the UNet ("activations") may be stored in a format of
  // the backend's choosing. An activation argument is any x / y / dx / dy /
  // up / skip / out / dout of conv2d, conv_transpose2x2, batchnorm_relu,
  // maxpool2x2, pad_concat and add_channel below. Everything else is always
  // float32: weights, biases and their gradients, BatchNorm statistics, the
  // per-(n, c) add and dadd vectors, the dense ops, the loss, the DDPM ops.
  //   kFloat32NCHW   float32, NCHW, as documented op by op (CPU; CUDA fp32/tf32)
  //   kBFloat16NHWC  bfloat16, NHWC (channels last); the float* handed to an op
  //                  is then the address of that encoding, not of floats.
  //                  Statistics and reductions are still formed in float32 or
  //                  wider (CUDA with precision bf16).
  // Shapes keep their NCHW names in every case: an activation of shape
  // (N, C, H, W) occupies activation_bytes(N*C*H*W) bytes.
  enum class ActivationFormat { kFloat32NCHW = 0, kBFloat16NHWC = 1 };
  virtual ActivationFormat activation_format() const { return ActivationFormat::kFloat32NCHW; }
  virtual size_t activation_bytes(size_t elements) const { return elements * sizeof(float); }
  // src float32 (N, C, HW) NCHW -> dst activation (N, C, HW), overwrite; no aliasing.
  virtual void to_activation(const float* src, float* dst, int N, int C, int HW) {
    copy(dst, src, sizeof(float) * static_cast<size_t>(N) * C * HW);
  }
  // src activation (N, C, HW) -> dst float32 NCHW, overwrite; no aliasing.
  virtual void from_activation(const float* src, float* dst, int N, int C, int HW) {
    copy(dst, src, sizeof(float) * static_cast<size_t>(N) * C * HW);
  }

  // ---- step recording ---------------------------------------------------
  // The device work of one training step may be bracketed by
  // step_begin(owner, key) and step_end(). A backend may then record the op
  // calls of a bracket and replay the recording in later brackets of the same
  // (owner, key) instead of launching op by op (CUDA graphs: one launch per
  // step). Inside a bracket the caller makes the same op calls, with the same
  // pointers and sizes, every time for a given (owner, key) -- only the seed
  // and stream of gaussian/uniform_int, the loss pointer of
  // mse_forward_backward, the AdamParams of adam_update and the decay of
  // ema_update may change -- and
  // calls no upload, download, synchronize, alloc or free (they throw). An
  // op's arguments must stay valid until the step has run. step_end() returns
  // false when the bracket's work did not run (recording failed and the
  // backend stopped recording): the caller repeats the step. On an exception
  // inside a bracket the caller calls step_abort(). step_forget(owner) drops
  // an owner's recordings (its memory is about to be freed). The defaults run
  // every op as it is called (the CPU backend).
  virtual void step_begin(uint64_t /*owner*/, uint64_t /*key*/) {}
  virtual bool step_end() { return true; }
  virtual void step_abort() {}
  virtual void step_forget(uint64_t /*owner*/) {}

  // ---- convolution ------------------------------------------------------
  // 2-D convolution, stride 1, zero padding k/2, k in {1, 3}.
  // x (N,Cin,H,W), w (Cout,Cin,k,k), b (Cout) or nullptr, y (N,Cout,H,W).
  virtual void conv2d_forward(const float* x, const float* w, const float* b, float* y,
                              int N, int Cin, int H, int W, int Cout, int k) = 0;
  // Gradients of conv2d_forward. dx (overwrite) may be nullptr to skip it;
  // dw (overwrite); db (overwrite) may be nullptr.
  virtual void conv2d_backward(const float* x, const float* w, const float* dy, float* dx,
                               float* dw, float* db, int N, int Cin, int H, int W, int Cout,
                               int k) = 0;

  // Transposed convolution, kernel 2, stride 2, no padding (nn.ConvTranspose2d(Cin,Cout,2,2)).
  // x (N,Cin,H,W), w (Cin,Cout,2,2), b (Cout) or nullptr, y (N,Cout,2H,2W).
  virtual void conv_transpose2x2_forward(const float* x, const float* w, const float* b, float* y,
                                         int N, int Cin, int H, int W, int Cout) = 0;
  // dx (overwrite, nullable), dw (overwrite), db (overwrite, nullable).
  virtual void conv_transpose2x2_backward(const float* x, const float* w, const float* dy,
                                          float* dx, float* dw, float* db, int N, int Cin, int H,
                                          int W, int Cout) = 0;

  // ---- BatchNorm + ReLU (+ per-sample channel add) ------------------------
  // y = relu(gamma * (x - mean) * invstd + beta) + add[n, c]
  // training: mean/var are the batch statistics over (N, H, W) (biased var for
  //   normalising); save_mean/save_invstd (C each) receive them, and the
  //   running statistics are updated as PyTorch does:
  //   running = (1 - momentum) * running + momentum * stat, with the unbiased
  //   variance (M / (M - 1)) for running_var, M = N*HW.
  // eval: the running statistics are used; save_* are not written.
  // add (N, C) may be nullptr. x and y must not alias.
  virtual void batchnorm_relu_forward(const float* x, float* y, const float* gamma,
                                      const float* beta, float* running_mean, float* running_var,
                                      float* save_mean, float* save_invstd, const float* add,
                                      int N, int C, int HW, bool training, float momentum,
                                      float eps) = 0;
  // Backward of the training-mode forward. Recomputes the ReLU mask from x and
  // the saved statistics. dx, dgamma, dbeta overwrite; dadd (N, C) overwrite,
  // nullable (it is the sum of dy over H, W).
  virtual void batchnorm_relu_backward(const float* x, const float* dy, const float* gamma,
                                       const float* beta, const float* save_mean,
                                       const float* save_invstd, float* dx, float* dgamma,
                                       float* dbeta, float* dadd, int N, int C, int HW) = 0;

  // ---- pooling, padding, concat ------------------------------------------
  // 2x2 max-pool, stride 2, floor (nn.MaxPool2d(2, 2)); y (N,C,H/2,W/2).
  // y += add[n, c] after pooling when add (N, C) is not nullptr.
  virtual void maxpool2x2_forward(const float* x, float* y, const float* add, int N, int C, int H,
                                  int W) = 0;
  // dx ACCUMULATE (dx += routed dy; the first max in row-major window order
  // wins ties, as PyTorch). dadd (N, C) overwrite, nullable.
  virtual void maxpool2x2_backward(const float* x, const float* dy, float* dx, float* dadd, int N,
                                   int C, int H, int W) = 0;

  // out (N, Cu + Cs, Hs, Ws) = cat([pad(up), skip], dim=1), where pad places
  // up (N,Cu,Hu,Wu) with top = (Hs-Hu)/2, left = (Ws-Wu)/2 (F.pad as the seed
  // UNet does; Hu <= Hs, Wu <= Ws) and zeros elsewhere.
  virtual void pad_concat_forward(const float* up, const float* skip, float* out, int N, int Cu,
                                  int Hu, int Wu, int Cs, int Hs, int Ws) = 0;
  // dup, dskip overwrite (either nullable).
  virtual void pad_concat_backward(const float* dout, float* dup, float* dskip, int N, int Cu,
                                   int Hu, int Wu, int Cs, int Hs, int Ws) = 0;

  // y[n, c, :, :] = x[n, c, :, :] + add[n, c]   (x and y may alias)
  virtual void add_channel_forward(const float* x, const float* add, float* y, int N, int C,
                                   int HW) = 0;
  // dadd[n, c] = sum over H, W of dy[n, c] (overwrite). The gradient for x is dy itself.
  virtual void add_channel_backward(const float* dy, float* dadd, int N, int C, int HW) = 0;

  // ---- dense ---------------------------------------------------------------
  // y (N, out) = x (N, in) @ w^T + b; w (out, in) as nn.Linear; b nullable.
  virtual void linear_forward(const float* x, const float* w, const float* b, float* y, int N,
                              int in, int out) = 0;
  // dx (overwrite, nullable), dw (overwrite), db (overwrite, nullable).
  virtual void linear_backward(const float* x, const float* w, const float* dy, float* dx,
                               float* dw, float* db, int N, int in, int out) = 0;
  // y = x * sigmoid(x)  (x and y may alias)
  virtual void silu_forward(const float* x, float* y, size_t n) = 0;
  // dx = dy * d silu(x) / dx (overwrite; dx may alias dy)
  virtual void silu_backward(const float* x, const float* dy, float* dx, size_t n) = 0;
  // out (N, D) = table[t[n], :]; table (T, D); t is int32 in backend memory.
  virtual void embedding_gather(const float* table, const int32_t* t, float* out, int N, int D,
                                int T) = 0;

  // ---- loss ---------------------------------------------------------------
  // loss[0] = mean((pred - target)^2) over n elements (written to backend
  // memory, so no host synchronisation); grad = 2 (pred - target) / n
  // (overwrite, nullable).
  virtual void mse_forward_backward(const float* pred, const float* target, float* loss,
                                    float* grad, size_t n) = 0;

  // ---- randomness (Philox4x32-10, see rng.h) ------------------------------
  // out[i] ~ N(0, 1) for i < n: element offset+i of (seed, stream), see rng.h.
  virtual void gaussian(float* out, size_t n, uint64_t seed, uint64_t stream, uint64_t offset) = 0;
  // out[i] uniform in [0, high) as int32: element i of (seed, stream).
  virtual void uniform_int(int32_t* out, size_t n, int32_t high, uint64_t seed,
                           uint64_t stream) = 0;

  // ---- DDPM ---------------------------------------------------------------
  // uint8 pixels (N, C, H, W) in [0, 255] -> out in [-1, 1] as p / 127.5 - 1,
  // mirrored along W for samples with flip[n] != 0 (flip nullable).
  virtual void images_to_float(const uint8_t* pixels, const uint8_t* flip, float* out, int N,
                               int C, int H, int W) = 0;
  // x_t = sqrt_abar[t[n]] * x0 + sqrt_one_minus_abar[t[n]] * eps, per sample
  // of size `per_sample` elements. Tables (T) live in backend memory; t must
  // index them (only negative values can be detected, as T is not passed).
  virtual void noise_add(const float* x0, const float* eps, const int32_t* t,
                         const float* sqrt_abar, const float* sqrt_one_minus_abar, float* xt, int N,
                         size_t per_sample) = 0;
  // Ancestral step, one t for the whole batch:
  //   x_prev = c_x * (x_t - c_eps * eps_theta) + sigma * z
  // with c_x = 1/sqrt(alpha_t), c_eps = beta_t / sqrt(1 - abar_t),
  // sigma = sqrt(beta_t) (0 at t = 0). z ~ N(0,1) is drawn inside the op:
  // element i of sample n is gaussian(seed, stream, first_index*per_sample + n*per_sample + i)
  // so a sample's noise does not depend on how the batch was split.
  // x_prev may alias x_t.
  virtual void reverse_step(const float* x_t, const float* eps_theta, float* x_prev, int N,
                            size_t per_sample, float c_x, float c_eps, float sigma, uint64_t seed,
                            uint64_t stream, int64_t first_index) = 0;
  // out[i] = min(max(x[i], lo), hi)  (may alias)
  virtual void clamp(const float* x, float* out, size_t n, float lo, float hi) = 0;
  // A reverse step through the predicted x_0 (DDIM, or the DDPM posterior
  // with a clipped x_0), one set of coefficients for the whole batch, as
  // DdimCoefficients documents; z is drawn as in reverse_step (element i of
  // sample n is gaussian(seed, stream, first_index*per_sample + n*per_sample + i))
  // and not at all when sigma == 0. x_prev may alias x_t.
  virtual void ddim_step(const float* x_t, const float* eps_theta, float* x_prev, int N,
                         size_t per_sample, const DdimCoefficients& k, uint64_t seed,
                         uint64_t stream, int64_t first_index) = 0;
  // Classifier-free guidance: out = eps_uncond + w * (eps_cond - eps_uncond)
  // over n elements (out may alias either input).
  virtual void guided_eps(const float* eps_cond, const float* eps_uncond, float* out, size_t n,
                          float w) = 0;

  // ---- class conditioning ---------------------------------------------------
  // out[n, :] += table[labels[n], :] for n < N; table (K, D), labels int32 in
  // backend memory, each in [0, K) (checked as embedding_gather checks t).
  virtual void class_embed_add(const float* table, const int32_t* labels, float* out, int N,
                               int D, int K) = 0;
  // dtable (K, D), overwrite: dtable[k, :] = sum over s < slices and n < N with
  // labels[n] == k of dout[s*N*D + n*D + :] -- the gradient of class_embed_add
  // when its output fed `slices` consumers whose input gradients are stacked
  // in dout. Summed in a fixed order (s, then n), so it is deterministic.
  virtual void class_embed_backward(const float* dout, int slices, const int32_t* labels,
                                    float* dtable, int N, int D, int K) = 0;

  // ---- optimiser ----------------------------------------------------------
  // One Adam step over flat buffers of n elements: m and v are the first and
  // second moments (each n). As torch.optim.Adam(amsgrad=False, maximize=False).
  virtual void adam_update(float* params, const float* grads, float* m, float* v, size_t n,
                           const AdamParams& p) = 0;
  // Exponential moving average of the weights over flat buffers of n
  // elements, as torch's ema.lerp_(params, 1 - decay): with w = float(1 - decay)
  // (formed in double, rounded once, see ema_weight),
  //   ema = ema + w * (params - ema)          when |w| < 0.5
  //   ema = params - (params - ema) * (1 - w) otherwise
  // decay in [0, 1]. Inside a step bracket only `decay` may change.
  virtual void ema_update(float* ema, const float* params, size_t n, double decay) = 0;
};

// The lerp weight of ema_update: float(1 - decay); throws ddpm::Error outside [0, 1].
float ema_weight(double decay);
// The warmed-up decay of EMA update number `update` (0-based):
// min(decay, (1 + update) / (10 + update)), as diffusers' EMAModel and
// lucidrains' ema-pytorch; decay in [0, 1).
double ema_decay_at(double decay, int64_t update);

// The CPU reference backend. threads <= 0 means std::thread::hardware_concurrency().
Backend* create_cpu_backend(int threads);
// Deletes any backend (virtual destructor); nullptr is a no-op.
void destroy_backend(Backend* backend);

}  // namespace ddpm
