// The op interface every compute backend implements (CPU reference, CUDA).
//
// The UNet (unet.h) is written once against this interface; a backend only
// supplies memory and ops. The ops themselves are declared once, in the op
// table ops.def (how to read it: op_table.h), with their exact semantics. All tensors are float32, NCHW, dense (except
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

#include "ddpm/op_table.h"

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
  // AdamW (Loshchilov & Hutter): the weights shrink by lr * weight_decay before the
  // step instead, as torch.optim.AdamW (diffusers' training scripts' optimizer).
  bool decoupled_weight_decay = false;
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
  float b2, eps, wd;     // wd: the L2 term added to the gradient (0 for AdamW)
  float decay;           // AdamW: the weights' factor float(1 - lr * weight_decay) before the step; else 1
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

// The float constants of one DPM-Solver++ step (Lu et al. 2022, multistep,
// data prediction; Schedule::dpm_solver forms them in double):
//   x0     = (x_t - sigma * eps) * inv_alpha, clipped to [-x0_clip, x0_clip]
//            when x0_clip > 0
//   x_next = xt_coef * x_t + x0_coef * x0 + prev_coef * x0_prev
//            + prev2_coef * x0_prev2 + noise * z
//   x0_prev2 = x0_prev, x0_prev = x0  (kept for the next steps)
// First order (DDIM in the log-SNR time lambda): prev_coef = prev2_coef = 0;
// second order (2M, the midpoint form): x0_coef and prev_coef carry the
// finite difference (x0 - x0_prev) / r0; third order (3M) the second
// differences through x0_prev2 too. The SDE variant (at most second order)
// scales xt_coef by e^-h and adds noise.
struct DpmSolverCoefficients {
  float inv_alpha = 1.0f;  // 1 / sqrt(abar_t)
  float sigma = 0.0f;      // sqrt(1 - abar_t)
  float x0_clip = 0.0f;    // <= 0: no clipping
  float xt_coef = 0.0f;
  float x0_coef = 1.0f;
  float prev_coef = 0.0f;
  float prev2_coef = 0.0f;
  float noise = 0.0f;
};

// The numerics of a backend, one definition for the CPU and CUDA:
//   kFp32  all math IEEE float32;
//   kTf32  CUDA: TF32 tensor-core math in convolutions and GEMMs (faster, about
//          1e-3 relative error), float32 storage. The CPU has no TF32 units:
//          there it is kFp32.
//   kBf16  convolutions multiply bfloat16 operands and sum in float32 (CPU:
//          AVX512_BF16; CUDA: bf16 tensor cores, with activations stored as
//          bf16 channels-last, see activation_format, and TF32 GEMMs in the
//          time MLPs); parameters, gradients, Adam state, BatchNorm statistics
//          and every reduction stay float32 (float32 master weights).
enum class Precision { kFp32 = 0, kTf32 = 1, kBf16 = 2 };
// "fp32", "tf32", "bf16"; anything else throws ddpm::Error naming the choices.
Precision parse_precision(const std::string& name);
const char* precision_name(Precision p);

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
  // the backend's choosing. An activation argument is one of role act_* in
  // ops.def: the x / y / dx / dy / up / skip / out / dout of conv2d,
  // conv_transpose2x2, batchnorm_relu, maxpool2x2, pad_concat and
  // add_channel (the ops of kind act). Everything else is always
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
  // pointers and sizes, every time for a given (owner, key) -- only the
  // arguments of the step_* roles of ops.def may change: the seed, stream and
  // offset of gaussian/uniform_int, the loss pointer of mse_forward_backward,
  // the AdamParams of adam_update and the decay of ema_update -- and
  // calls no upload, download, synchronize, alloc or free (they throw). An
  // op's arguments must stay valid until the step has run. A conv op's weight
  // is not written inside a bracket before the bracket's last conv op that
  // reads it (the optimizer runs after the backward): the CUDA backend
  // converts each weight once per bracket. step_end() returns
  // false when the bracket's work did not run (recording failed and the
  // backend stopped recording): the caller repeats the step. On an exception
  // inside a bracket the caller calls step_abort(). step_forget(owner) drops
  // an owner's recordings (its memory is about to be freed). The defaults run
  // every op as it is called (the CPU backend).
  virtual void step_begin(uint64_t /*owner*/, uint64_t /*key*/) {}
  virtual bool step_end() { return true; }
  virtual void step_abort() {}
  virtual void step_forget(uint64_t /*owner*/) {}

  // ---- side regions ---------------------------------------------------------
  // The op calls between side_begin() and side_end() (a side region) may run
  // concurrently with the calls after it: the CUDA backend with a second
  // stream (precision bf16, side_stream.h) runs them there, and a later call
  // waits for the region only where the op table's roles say their tensors
  // meet (the later call writes what the region reads, or reads or writes what
  // it writes); calls that are not ops of the table (copy, fill, transfers,
  // synchronize, step brackets) wait for every region. So a region needs no
  // fences of its own, but it must not read what a later call changes through
  // anything but an op (nothing does), and it must use no scratch that later
  // calls share. Only the ops that need no backend scratch may be called in a
  // region (side_region_op; others throw), regions do not nest, and the
  // results are the same as without them. Used for the time MLPs, whose
  // outputs are read blocks after they could run (tens of small kernels a
  // training step off the convolutions' path). The defaults run the ops in
  // order (the CPU backend).
  virtual void side_begin() {}
  virtual void side_end() {}

  // ---- the ops ------------------------------------------------------------
  // One pure virtual per entry of the op table (ops.def: each op's arguments,
  // their roles and shapes, and its exact semantics).
#define DDPM_OP(kind, name, flops, ...) virtual void name(DDPM_OP_PARAMS(__VA_ARGS__)) = 0;
#include "ddpm/ops.def"
};

// The ops a side region may call (Backend::side_begin): the dense ops, which
// use no backend scratch (cuBLAS GEMMs and elementwise kernels).
inline bool side_region_op(const char* op) {
  static const char* const kOps[] = {"linear_forward", "linear_backward", "silu_forward", "silu_backward",
                                     "embedding_gather"};
  for (const char* o : kOps)
    if (std::string(o) == op) return true;
  return false;
}

// The lerp weight of ema_update: float(1 - decay); throws ddpm::Error outside [0, 1].
float ema_weight(double decay);
// The warmed-up decay of EMA update number `update` (0-based):
// min(decay, (1 + update) / (10 + update)), as diffusers' EMAModel and
// lucidrains' ema-pytorch; decay in [0, 1). With power > 0, diffusers'
// use_ema_warmup (inv_gamma 1) instead: min(decay, 1 - (1 + update)^-power)
// (diffusers' training scripts use power 3/4; 2/3 suits runs of ~1M steps).
double ema_decay_at(double decay, int64_t update, double power = 0.0);

// The CPU reference backend. threads <= 0 means std::thread::hardware_concurrency().
Backend* create_cpu_backend(int threads);
// Deletes any backend (virtual destructor); nullptr is a no-op.
void destroy_backend(Backend* backend);

}  // namespace ddpm
