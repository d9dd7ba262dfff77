// The CUDA backend: device memory, one stream, the cuDNN and cuBLAS handles,
// the pinned upload ring, and the ops of ops.h behind ddpm::Backend; plus
// the public entry points of ddpm/cuda.h.
//
// Rules kept by every op: work is only enqueued on the backend's stream;
// alloc() is the only allocation (except the cuDNN workspace, which grows
// the first time a convolution shape is seen, and cudnnFind's own buffers
// then); only download() and synchronize() wait for the device (again
// except the first use of a convolution shape, whose algorithm search is
// host blocking). Errors are thrown as ddpm::Error naming the op.
//
// Debugging: DDPM_CUDA_SYNC=1 synchronises after every op, so an
// asynchronous fault is reported by the op that caused it;
// DDPM_CUDA_VERBOSE=1 logs the cuDNN algorithm chosen for each shape.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "common.cuh"
#include "conv.h"
#include "ddpm/cuda.h"
#include "ops.h"
#include "step_graph.h"

namespace ddpm {
namespace cuda {

void throw_cuda(const char* op, const char* call, cudaError_t e) {
  const std::string fn = std::string(call).substr(0, std::string(call).find('('));
  throw Error(std::string("cuda ") + op + ": " + fn + " failed: " + cudaGetErrorString(e) + " (" +
              cudaGetErrorName(e) + ")");
}

void check_launch(const char* op) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw Error(std::string("cuda ") + op + ": kernel launch failed: " + cudaGetErrorString(e) + " (" +
                cudaGetErrorName(e) + ")");
}

namespace {

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

// CUDA versions: 1000 * major + 10 * minor.
std::string version_str(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

class CudaBackend final : public Backend {
 public:
  CudaBackend(int device, Precision precision)
      : device_(device), precision_(precision), graphs_(graphs_enabled()) {
    const bool tf32 = precision != Precision::kFp32;  // TF32 GEMMs also in bf16 mode
    const char* op = "create_cuda_backend";
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
      cudaGetLastError();
      throw Error(std::string("cuda create_cuda_backend: no usable CUDA device: ") + cudaGetErrorString(e) + " (" +
                  cudaGetErrorName(e) + ")");
    }
    if (device < 0 || device >= count)
      throw Error("cuda create_cuda_backend: device " + std::to_string(device) + " does not exist (" +
                  std::to_string(count) + " CUDA devices)");
    try {
      DDPM_CUDA(op, cudaSetDevice(device));
      cudaDeviceProp prop;
      DDPM_CUDA(op, cudaGetDeviceProperties(&prop, device));
      if (prop.major < 8)
        throw Error("cuda create_cuda_backend: " + std::string(prop.name) + " has compute capability " +
                    std::to_string(prop.major) + "." + std::to_string(prop.minor) +
                    "; this build carries code for 8.0 and newer");
      device_label_ = std::string(prop.name) + " (cuda:" + std::to_string(device) + ", sm_" +
                      std::to_string(prop.major) + std::to_string(prop.minor) + ", " +
                      std::to_string(prop.multiProcessorCount) + " SMs, " + precision_name(precision) + ")";
      debug_sync_ = env_flag("DDPM_CUDA_SYNC");
      DDPM_CUDA(op, cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
      graphs_.set_stream(stream_);
      ctx_.stream = stream_;
      ctx_.device = device;
      ctx_.sm_count = prop.multiProcessorCount;
      DDPM_CUDA(op, cudaMalloc(&ctx_.partials, sizeof(double) * 2 * kMaxPartials));
      DDPM_CUDA(op, cudaMalloc(&ctx_.coef, sizeof(float) * 8 * kMaxChannels));
      // The device-side error record, and its pinned host copy that every
      // synchronisation fetches in the same stream round trip.
      DDPM_CUDA(op, cudaMalloc(reinterpret_cast<void**>(&ctx_.error), sizeof(DeviceError)));
      DDPM_CUDA(op, cudaMemsetAsync(ctx_.error, 0, sizeof(DeviceError), stream_));
      DDPM_CUDA(op, cudaMallocHost(reinterpret_cast<void**>(&err_host_), sizeof(DeviceError)));
      std::memset(err_host_, 0, sizeof(DeviceError));
      DDPM_CUDA(op, cudaStreamSynchronize(stream_));
      DDPM_CUDA(op, cudaMallocHost(reinterpret_cast<void**>(&ring_), kRingBytes));
      ctx_.scratch = &scratch_;
      conv_ = std::make_unique<ConvEngine>(stream_, precision == Precision::kFp32   ? ConvEngine::Precision::kFp32
                                                    : precision == Precision::kTf32 ? ConvEngine::Precision::kTf32
                                                                                    : ConvEngine::Precision::kBf16);
      cublasStatus_t s = cublasCreate(&cublas_);
      if (s != CUBLAS_STATUS_SUCCESS) {
        cublas_ = nullptr;
        throw_cublas(op, "cublasCreate", s);
      }
      s = cublasSetStream(cublas_, stream_);
      if (s != CUBLAS_STATUS_SUCCESS) throw_cublas(op, "cublasSetStream", s);
      // TF32 tensor cores, or IEEE fp32 (CUBLAS_DEFAULT_MATH never lowers precision).
      s = cublasSetMathMode(cublas_, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
      if (s != CUBLAS_STATUS_SUCCESS) throw_cublas(op, "cublasSetMathMode", s);
      // Our own workspace, so cuBLAS never allocates inside an op.
      DDPM_CUDA(op, cudaMalloc(&cublas_ws_, kCublasWorkspace));
      s = cublasSetWorkspace(cublas_, cublas_ws_, kCublasWorkspace);
      if (s != CUBLAS_STATUS_SUCCESS) throw_cublas(op, "cublasSetWorkspace", s);
    } catch (...) {
      release();
      throw;
    }
  }

  ~CudaBackend() override { release(); }

  // ---- identity -------------------------------------------------------------
  std::string name() const override { return "cuda"; }
  std::string device_name() const override { return device_label_; }
  int threads() const override { return 1; }

  // ---- memory ------------------------------------------------------------------
  void* alloc(size_t bytes) override {
    enter();
    void* p = nullptr;
    const size_t rounded = bytes < 256 ? 256 : (bytes + 255) / 256 * 256;
    const cudaError_t e = cudaMalloc(&p, rounded);
    if (e != cudaSuccess) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      cudaGetLastError();
      throw Error("cuda alloc: cannot allocate " + std::to_string(bytes) + " bytes (" +
                  std::to_string(free_b >> 20) + " of " + std::to_string(total_b >> 20) +
                  " MiB free): " + cudaGetErrorString(e));
    }
    return p;
  }

  // Never throws: free() runs in destructors (the UNet's, callers' RAII). A
  // failure here follows an earlier error that an op has already reported.
  void free(void* p) override {
    if (!p) return;
    int cur = -1;
    if (cudaGetDevice(&cur) != cudaSuccess || cur != device_) cudaSetDevice(device_);
    const cudaError_t e = cudaFree(p);
    if (e != cudaSuccess) {
      cudaGetLastError();
      std::fprintf(stderr, "ddpm cuda free: cudaFree failed: %s (%s)\n", cudaGetErrorString(e), cudaGetErrorName(e));
    }
  }

  // Stages through the pinned ring: the host buffer is free again on return,
  // the copy itself runs in stream order. A ring region is rewritten only
  // after the copy that read it has finished (its event).
  void upload(void* dst, const void* host_src, size_t bytes) override {
    const char* op = "upload";
    enter();
    not_in_step(op);
    char* d = static_cast<char*>(dst);
    const char* s = static_cast<const char*>(host_src);
    while (bytes > 0) {
      const size_t chunk = bytes < kRingChunk ? bytes : kRingChunk;
      const size_t need = (chunk + kRingAlign - 1) / kRingAlign * kRingAlign;
      const bool wrap = ring_head_ + need > kRingBytes;
      const size_t start = wrap ? 0 : ring_head_;
      // Wait for the newest pending copy whose staging area we would
      // overwrite (stream order: the older ones are then done too).
      int last = -1;
      for (int i = 0; i < static_cast<int>(pending_.size()); ++i) {
        const Pending& p = pending_[i];
        if (p.begin < start + need && start < p.end) last = i;
      }
      if (last >= 0) {
        DDPM_CUDA(op, cudaEventSynchronize(pending_[last].event));
        for (int i = 0; i <= last; ++i) retire_front();
      }
      std::memcpy(ring_ + start, s, chunk);
      DDPM_CUDA(op, cudaMemcpyAsync(d, ring_ + start, chunk, cudaMemcpyHostToDevice, stream_));
      cudaEvent_t ev = take_event(op);
      DDPM_CUDA(op, cudaEventRecord(ev, stream_));
      pending_.push_back(Pending{start, start + need, ev});
      ring_head_ = start + need;
      d += chunk;
      s += chunk;
      bytes -= chunk;
    }
    retire_completed();
    leave(op);
  }

  void download(void* host_dst, const void* src, size_t bytes) override {
    const char* op = "download";
    enter();
    not_in_step(op);
    if (bytes > 0) DDPM_CUDA(op, cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
    sync(op);
  }

  void copy(void* dst, const void* src, size_t bytes) override {
    enter();
    if (step_skip("copy", dst, src, bytes)) return;
    if (bytes > 0 && dst != src)
      DDPM_CUDA("copy", cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
    leave("copy");
  }

  void fill(float* dst, float value, size_t n) override {
    enter();
    if (step_skip("fill", dst, value, n)) return;
    ops::fill(ctx_, dst, value, n);
    leave("fill");
  }

  void synchronize() override {
    enter();
    not_in_step("synchronize");
    sync("synchronize");
  }

  // ---- snapshots: pinned host memory, copies in stream order, one fence ----------
  void* alloc_host(size_t bytes) override {
    enter();
    void* p = nullptr;
    const cudaError_t e = cudaHostAlloc(&p, bytes < 64 ? 64 : bytes, cudaHostAllocDefault);
    if (e != cudaSuccess) {
      cudaGetLastError();
      throw Error("cuda alloc_host: cannot pin " + std::to_string(bytes) + " bytes of host memory: " + cudaGetErrorString(e));
    }
    return p;
  }
  void free_host(void* p) override {
    if (p && cudaFreeHost(p) != cudaSuccess) cudaGetLastError();
  }
  void download_async(void* host_dst, const void* src, size_t bytes) override {
    const char* op = "download_async";
    enter();
    not_in_step(op);
    if (bytes > 0) DDPM_CUDA(op, cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
    leave(op);
  }
  void fence_record() override {
    const char* op = "fence_record";
    enter();
    not_in_step(op);
    if (!fence_) DDPM_CUDA(op, cudaEventCreateWithFlags(&fence_, cudaEventDisableTiming));
    DDPM_CUDA(op, cudaEventRecord(fence_, stream_));
  }
  void fence_wait() override {
    if (!fence_) return;
    const cudaError_t e = cudaEventSynchronize(fence_);
    if (e != cudaSuccess) throw_cuda("fence_wait", "cudaEventSynchronize", e);
  }

  // ---- step recording (CUDA graphs, step_graph.h) ---------------------------------
  void step_begin(uint64_t owner, uint64_t key) override {
    enter();
    graphs_.begin(owner, key);
  }
  bool step_end() override {
    enter();
    return graphs_.end();
  }
  void step_abort() override { graphs_.abort(); }
  void step_forget(uint64_t owner) override { graphs_.forget(owner); }
  std::string graph_stats() const { return graphs_.stats(); }

  // ---- activation format --------------------------------------------------------
  ActivationFormat activation_format() const override {
    return bf16_mode() ? ActivationFormat::kBFloat16NHWC : ActivationFormat::kFloat32NCHW;
  }
  size_t activation_bytes(size_t elements) const override {
    return elements * (bf16_mode() ? sizeof(bf16) : sizeof(float));
  }
  void to_activation(const float* src, float* dst, int N, int C, int HW) override {
    if (!bf16_mode()) return Backend::to_activation(src, dst, N, C, HW);
    enter();
    ops::nhwc::to_activation(ctx_, src, act(dst), N, C, HW);
    leave("to_activation");
  }
  void from_activation(const float* src, float* dst, int N, int C, int HW) override {
    if (!bf16_mode()) return Backend::from_activation(src, dst, N, C, HW);
    enter();
    ops::nhwc::from_activation(ctx_, act(src), dst, N, C, HW);
    leave("from_activation");
  }

  // ---- ops: forward to the launchers ----------------------------------------------
  void conv2d_forward(const float* x, const float* w, const float* b, float* y, int N, int Cin, int H, int W,
                      int Cout, int k) override {
    enter();
    if (step_skip("conv2d_forward", x, w, b, y, N, Cin, H, W, Cout, k)) return;
    if (bf16_mode()) ops::nhwc::conv2d_forward(ctx_, *conv_, act(x), w, b, act(y), N, Cin, H, W, Cout, k);
    else ops::conv2d_forward(ctx_, *conv_, x, w, b, y, N, Cin, H, W, Cout, k);
    leave("conv2d_forward");
  }
  void conv2d_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db, int N,
                       int Cin, int H, int W, int Cout, int k) override {
    enter();
    if (step_skip("conv2d_backward", x, w, dy, dx, dw, db, N, Cin, H, W, Cout, k)) return;
    if (bf16_mode())
      ops::nhwc::conv2d_backward(ctx_, *conv_, act(x), w, act(dy), act(dx), dw, db, N, Cin, H, W, Cout, k);
    else ops::conv2d_backward(ctx_, *conv_, x, w, dy, dx, dw, db, N, Cin, H, W, Cout, k);
    leave("conv2d_backward");
  }
  void conv_transpose2x2_forward(const float* x, const float* w, const float* b, float* y, int N, int Cin, int H,
                                 int W, int Cout) override {
    enter();
    if (step_skip("conv_transpose2x2_forward", x, w, b, y, N, Cin, H, W, Cout)) return;
    if (bf16_mode()) ops::nhwc::conv_transpose2x2_forward(ctx_, *conv_, act(x), w, b, act(y), N, Cin, H, W, Cout);
    else ops::conv_transpose2x2_forward(ctx_, *conv_, x, w, b, y, N, Cin, H, W, Cout);
    leave("conv_transpose2x2_forward");
  }
  void conv_transpose2x2_backward(const float* x, const float* w, const float* dy, float* dx, float* dw,
                                  float* db, int N, int Cin, int H, int W, int Cout) override {
    enter();
    if (step_skip("conv_transpose2x2_backward", x, w, dy, dx, dw, db, N, Cin, H, W, Cout)) return;
    if (bf16_mode())
      ops::nhwc::conv_transpose2x2_backward(ctx_, *conv_, act(x), w, act(dy), act(dx), dw, db, N, Cin, H, W, Cout);
    else ops::conv_transpose2x2_backward(ctx_, *conv_, x, w, dy, dx, dw, db, N, Cin, H, W, Cout);
    leave("conv_transpose2x2_backward");
  }
  void batchnorm_relu_forward(const float* x, float* y, const float* gamma, const float* beta,
                              float* running_mean, float* running_var, float* save_mean, float* save_invstd,
                              const float* add, int N, int C, int HW, bool training, float momentum,
                              float eps) override {
    enter();
    if (step_skip("batchnorm_relu_forward", x, y, gamma, beta, running_mean, running_var, save_mean, save_invstd, add, N, C, HW, training, momentum, eps)) return;
    if (bf16_mode())
      ops::nhwc::batchnorm_relu_forward(ctx_, act(x), act(y), gamma, beta, running_mean, running_var, save_mean,
                                        save_invstd, add, N, C, HW, training, momentum, eps);
    else
      ops::batchnorm_relu_forward(ctx_, x, y, gamma, beta, running_mean, running_var, save_mean, save_invstd, add,
                                  N, C, HW, training, momentum, eps);
    leave("batchnorm_relu_forward");
  }
  void batchnorm_relu_backward(const float* x, const float* dy, const float* gamma, const float* beta,
                               const float* save_mean, const float* save_invstd, float* dx, float* dgamma,
                               float* dbeta, float* dadd, int N, int C, int HW) override {
    enter();
    if (step_skip("batchnorm_relu_backward", x, dy, gamma, beta, save_mean, save_invstd, dx, dgamma, dbeta, dadd, N, C, HW)) return;
    if (bf16_mode())
      ops::nhwc::batchnorm_relu_backward(ctx_, act(x), act(dy), gamma, beta, save_mean, save_invstd, act(dx), dgamma,
                                         dbeta, dadd, N, C, HW);
    else
      ops::batchnorm_relu_backward(ctx_, x, dy, gamma, beta, save_mean, save_invstd, dx, dgamma, dbeta, dadd, N, C,
                                   HW);
    leave("batchnorm_relu_backward");
  }
  void maxpool2x2_forward(const float* x, float* y, const float* add, int N, int C, int H, int W) override {
    enter();
    if (step_skip("maxpool2x2_forward", x, y, add, N, C, H, W)) return;
    if (bf16_mode()) ops::nhwc::maxpool2x2_forward(ctx_, act(x), act(y), add, N, C, H, W);
    else ops::maxpool2x2_forward(ctx_, x, y, add, N, C, H, W);
    leave("maxpool2x2_forward");
  }
  void maxpool2x2_backward(const float* x, const float* dy, float* dx, float* dadd, int N, int C, int H,
                           int W) override {
    enter();
    if (step_skip("maxpool2x2_backward", x, dy, dx, dadd, N, C, H, W)) return;
    if (bf16_mode()) ops::nhwc::maxpool2x2_backward(ctx_, act(x), act(dy), act(dx), dadd, N, C, H, W);
    else ops::maxpool2x2_backward(ctx_, x, dy, dx, dadd, N, C, H, W);
    leave("maxpool2x2_backward");
  }
  void pad_concat_forward(const float* up, const float* skip, float* out, int N, int Cu, int Hu, int Wu, int Cs,
                          int Hs, int Ws) override {
    enter();
    if (step_skip("pad_concat_forward", up, skip, out, N, Cu, Hu, Wu, Cs, Hs, Ws)) return;
    if (bf16_mode()) ops::nhwc::pad_concat_forward(ctx_, act(up), act(skip), act(out), N, Cu, Hu, Wu, Cs, Hs, Ws);
    else ops::pad_concat_forward(ctx_, up, skip, out, N, Cu, Hu, Wu, Cs, Hs, Ws);
    leave("pad_concat_forward");
  }
  void pad_concat_backward(const float* dout, float* dup, float* dskip, int N, int Cu, int Hu, int Wu, int Cs,
                           int Hs, int Ws) override {
    enter();
    if (step_skip("pad_concat_backward", dout, dup, dskip, N, Cu, Hu, Wu, Cs, Hs, Ws)) return;
    if (bf16_mode())
      ops::nhwc::pad_concat_backward(ctx_, act(dout), act(dup), act(dskip), N, Cu, Hu, Wu, Cs, Hs, Ws);
    else ops::pad_concat_backward(ctx_, dout, dup, dskip, N, Cu, Hu, Wu, Cs, Hs, Ws);
    leave("pad_concat_backward");
  }
  void add_channel_forward(const float* x, const float* add, float* y, int N, int C, int HW) override {
    enter();
    if (step_skip("add_channel_forward", x, add, y, N, C, HW)) return;
    if (bf16_mode()) ops::nhwc::add_channel_forward(ctx_, act(x), add, act(y), N, C, HW);
    else ops::add_channel_forward(ctx_, x, add, y, N, C, HW);
    leave("add_channel_forward");
  }
  void add_channel_backward(const float* dy, float* dadd, int N, int C, int HW) override {
    enter();
    if (step_skip("add_channel_backward", dy, dadd, N, C, HW)) return;
    if (bf16_mode()) ops::nhwc::add_channel_backward(ctx_, act(dy), dadd, N, C, HW);
    else ops::add_channel_backward(ctx_, dy, dadd, N, C, HW);
    leave("add_channel_backward");
  }
  void linear_forward(const float* x, const float* w, const float* b, float* y, int N, int in, int out) override {
    enter();
    if (step_skip("linear_forward", x, w, b, y, N, in, out)) return;
    ops::linear_forward(ctx_, cublas_, x, w, b, y, N, in, out);
    leave("linear_forward");
  }
  void linear_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db, int N,
                       int in, int out) override {
    enter();
    if (step_skip("linear_backward", x, w, dy, dx, dw, db, N, in, out)) return;
    ops::linear_backward(ctx_, cublas_, x, w, dy, dx, dw, db, N, in, out);
    leave("linear_backward");
  }
  void silu_forward(const float* x, float* y, size_t n) override {
    enter();
    if (step_skip("silu_forward", x, y, n)) return;
    ops::silu_forward(ctx_, x, y, n);
    leave("silu_forward");
  }
  void silu_backward(const float* x, const float* dy, float* dx, size_t n) override {
    enter();
    if (step_skip("silu_backward", x, dy, dx, n)) return;
    ops::silu_backward(ctx_, x, dy, dx, n);
    leave("silu_backward");
  }
  void embedding_gather(const float* table, const int32_t* t, float* out, int N, int D, int T) override {
    enter();
    if (step_skip("embedding_gather", table, t, out, N, D, T)) return;
    ops::embedding_gather(ctx_, table, t, out, N, D, T);
    leave("embedding_gather");
  }
  void mse_forward_backward(const float* pred, const float* target, float* loss, float* grad, size_t n) override {
    enter();
    StepScalars v;
    v.loss = loss;  // the loss slot moves every step
    const auto sc = graphs_.scalars((Sig(kSigMse) << pred << target << grad << n).value(), v, "mse_forward_backward");
    if (sc.skip) return;
    ops::mse_forward_backward(ctx_, pred, target, loss, grad, n, sc.dev);
    leave("mse_forward_backward");
  }
  void gaussian(float* out, size_t n, uint64_t seed, uint64_t stream, uint64_t offset) override {
    enter();
    StepScalars v;
    v.seed = seed;
    v.stream = stream;
    v.offset = offset;
    const auto sc = graphs_.scalars((Sig(kSigGaussian) << out << n).value(), v, "gaussian");
    if (sc.skip) return;
    ops::gaussian(ctx_, out, n, seed, stream, offset, sc.dev);
    leave("gaussian");
  }
  void uniform_int(int32_t* out, size_t n, int32_t high, uint64_t seed, uint64_t stream) override {
    enter();
    StepScalars v;
    v.seed = seed;
    v.stream = stream;
    const auto sc = graphs_.scalars((Sig(kSigUniformInt) << out << n << high).value(), v, "uniform_int");
    if (sc.skip) return;
    ops::uniform_int(ctx_, out, n, high, seed, stream, sc.dev);
    leave("uniform_int");
  }
  void images_to_float(const uint8_t* pixels, const uint8_t* flip, float* out, int N, int C, int H,
                       int W) override {
    enter();
    if (step_skip("images_to_float", pixels, flip, out, N, C, H, W)) return;
    ops::images_to_float(ctx_, pixels, flip, out, N, C, H, W);
    leave("images_to_float");
  }
  void noise_add(const float* x0, const float* eps, const int32_t* t, const float* sqrt_abar,
                 const float* sqrt_one_minus_abar, float* xt, int N, size_t per_sample) override {
    enter();
    if (step_skip("noise_add", x0, eps, t, sqrt_abar, sqrt_one_minus_abar, xt, N, per_sample)) return;
    ops::noise_add(ctx_, x0, eps, t, sqrt_abar, sqrt_one_minus_abar, xt, N, per_sample);
    leave("noise_add");
  }
  void reverse_step(const float* x_t, const float* eps_theta, float* x_prev, int N, size_t per_sample, float c_x,
                    float c_eps, float sigma, uint64_t seed, uint64_t stream, int64_t first_index) override {
    enter();
    if (step_skip("reverse_step", x_t, eps_theta, x_prev, N, per_sample, c_x, c_eps, sigma, seed, stream, first_index)) return;
    ops::reverse_step(ctx_, x_t, eps_theta, x_prev, N, per_sample, c_x, c_eps, sigma, seed, stream, first_index);
    leave("reverse_step");
  }
  void clamp(const float* x, float* out, size_t n, float lo, float hi) override {
    enter();
    if (step_skip("clamp", x, out, n, lo, hi)) return;
    ops::clamp(ctx_, x, out, n, lo, hi);
    leave("clamp");
  }
  void adam_update(float* params, const float* grads, float* m, float* v, size_t n, const AdamParams& p) override {
    enter();
    StepScalars k;
    k.adam = adam_constants(p);  // bias correction moves every step
    const auto sc = graphs_.scalars((Sig(kSigAdam) << params << grads << m << v << n).value(), k, "adam_update");
    if (sc.skip) return;
    ops::adam_update(ctx_, params, grads, m, v, n, p, sc.dev);
    leave("adam_update");
  }
  void ema_update(float* ema, const float* params, size_t n, double decay) override {
    enter();
    StepScalars k;
    k.ema_weight = ema_weight(decay);  // the warm-up moves it every step
    const auto sc = graphs_.scalars((Sig(kSigEma) << ema << params << n).value(), k, "ema_update");
    if (sc.skip) return;
    ops::ema_update(ctx_, ema, params, n, decay, sc.dev);
    leave("ema_update");
  }
  void ddim_step(const float* x_t, const float* eps_theta, float* x_prev, int N, size_t per_sample,
                 const DdimCoefficients& k, uint64_t seed, uint64_t stream, int64_t first_index) override {
    enter();
    if (step_skip("ddim_step", x_t, eps_theta, x_prev, N, per_sample, k, seed, stream, first_index)) return;
    ops::ddim_step(ctx_, x_t, eps_theta, x_prev, N, per_sample, k, seed, stream, first_index);
    leave("ddim_step");
  }
  void guided_eps(const float* eps_cond, const float* eps_uncond, float* out, size_t n, float w) override {
    enter();
    if (step_skip("guided_eps", eps_cond, eps_uncond, out, n, w)) return;
    ops::guided_eps(ctx_, eps_cond, eps_uncond, out, n, w);
    leave("guided_eps");
  }
  void class_embed_add(const float* table, const int32_t* labels, float* out, int N, int D, int K) override {
    enter();
    if (step_skip("class_embed_add", table, labels, out, N, D, K)) return;
    ops::class_embed_add(ctx_, table, labels, out, N, D, K);
    leave("class_embed_add");
  }
  void class_embed_backward(const float* dout, int slices, const int32_t* labels, float* dtable, int N, int D,
                            int K) override {
    enter();
    if (step_skip("class_embed_backward", dout, slices, labels, dtable, N, D, K)) return;
    ops::class_embed_backward(ctx_, dout, slices, labels, dtable, N, D, K);
    leave("class_embed_backward");
  }

 private:
  static constexpr size_t kRingBytes = 8u << 20;       // pinned staging ring
  static constexpr size_t kRingChunk = 2u << 20;       // largest piece staged at once
  static constexpr size_t kRingAlign = 4096;           // staging granularity
  static constexpr size_t kCublasWorkspace = 32u << 20;

  struct Pending {
    size_t begin, end;
    cudaEvent_t event;
  };

  bool bf16_mode() const { return precision_ == Precision::kBf16; }

  // Inside a recorded step: the op's signature is recorded (capture) or
  // checked and its launch skipped (replay). Eager otherwise.
  template <typename... A>
  bool step_skip(const char* op, const A&... args) {
    if (!graphs_.recording()) return false;
    Sig s(Sig::of(op));
    (s << ... << args);
    return graphs_.skip(s.value(), op);
  }
  void not_in_step(const char* op) {
    if (graphs_.recording())
      throw Error(std::string("cuda ") + op + ": not allowed between step_begin and step_end");
  }
  // Signature seeds of the ops with per-step scalars.
  static constexpr uint64_t kSigMse = 0x6d7365, kSigGaussian = 0x6761, kSigUniformInt = 0x756e, kSigAdam = 0x6164,
                            kSigEma = 0x656d61;
  // An activation argument in bf16 mode: the float* of the Backend interface
  // is the address of bf16 channels-last storage (see activation_format).
  static bf16* act(float* p) { return reinterpret_cast<bf16*>(p); }
  static const bf16* act(const float* p) { return reinterpret_cast<const bf16*>(p); }

  // Every entry point runs on the backend's device, whatever the calling
  // thread last selected.
  void enter() {
    int cur = -1;
    if (cudaGetDevice(&cur) != cudaSuccess || cur != device_) DDPM_CUDA("set device", cudaSetDevice(device_));
  }
  void leave(const char* op) {
    if (debug_sync_) sync(op);
  }
  // Drains the stream, fetching the device error record in the same round
  // trip; then the staging ring is free and device-side errors surface.
  void sync(const char* op) {
    DDPM_CUDA(op, cudaMemcpyAsync(err_host_, ctx_.error, sizeof(DeviceError), cudaMemcpyDeviceToHost, stream_));
    DDPM_CUDA(op, cudaStreamSynchronize(stream_));
    while (!pending_.empty()) retire_front();
    check_device_error(op);
  }
  void check_device_error(const char* op) {
    const DeviceError e = *err_host_;
    if (e.code == 0) return;
    std::memset(err_host_, 0, sizeof(DeviceError));
    DDPM_CUDA(op, cudaMemsetAsync(ctx_.error, 0, sizeof(DeviceError), stream_));
    DDPM_CUDA(op, cudaStreamSynchronize(stream_));
    std::string what;
    switch (e.code) {
      case kErrEmbeddingIndex:
        what = "embedding_gather: timestep " + std::to_string(e.value) + " of sample " + std::to_string(e.index) +
               " is outside [0, " + std::to_string(e.limit) + ")";
        break;
      case kErrNoiseAddIndex:
        what = "noise_add: timestep " + std::to_string(e.value) + " of sample " + std::to_string(e.index) +
               " is negative";
        break;
      case kErrClassLabel:
        what = "class_embed: label " + std::to_string(e.value) + " of sample " + std::to_string(e.index) +
               " is outside [0, " + std::to_string(e.limit) + ")";
        break;
      default:
        what = "device error code " + std::to_string(e.code);
    }
    throw Error("cuda " + what + " (detected at " + op + ")");
  }
  cudaEvent_t take_event(const char* op) {
    if (!event_pool_.empty()) {
      cudaEvent_t e = event_pool_.back();
      event_pool_.pop_back();
      return e;
    }
    cudaEvent_t e = nullptr;
    DDPM_CUDA(op, cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    return e;
  }
  void retire_front() {
    event_pool_.push_back(pending_.front().event);
    pending_.pop_front();
  }
  // Drop copies that have finished (keeps the pending list short).
  void retire_completed() {
    while (!pending_.empty()) {
      const cudaError_t e = cudaEventQuery(pending_.front().event);
      if (e == cudaSuccess) {
        retire_front();
        continue;
      }
      if (e == cudaErrorNotReady) {
        if (cudaPeekAtLastError() == cudaErrorNotReady) cudaGetLastError();
        break;
      }
      throw_cuda("upload", "cudaEventQuery", e);
    }
  }

  static bool graphs_enabled() {
    const char* g = std::getenv("DDPM_CUDA_GRAPHS");
    if (g && std::strcmp(g, "0") == 0) return false;
    return !env_flag("DDPM_CUDA_SYNC");  // per-op synchronisation needs op-by-op launches
  }

  void release() {
    if (stream_) cudaStreamSynchronize(stream_);
    if (fence_) cudaEventDestroy(fence_);
    fence_ = nullptr;
    graphs_.clear();
    cudaGetLastError();
    for (auto& p : pending_) cudaEventDestroy(p.event);
    pending_.clear();
    for (auto e : event_pool_) cudaEventDestroy(e);
    event_pool_.clear();
    conv_.reset();
    if (cublas_) cublasDestroy(cublas_);
    cublas_ = nullptr;
    if (cublas_ws_) cudaFree(cublas_ws_);
    cublas_ws_ = nullptr;
    if (ctx_.partials) cudaFree(ctx_.partials);
    if (ctx_.coef) cudaFree(ctx_.coef);
    ctx_.partials = nullptr;
    ctx_.coef = nullptr;
    if (err_host_) cudaFreeHost(err_host_);
    err_host_ = nullptr;
    if (ctx_.error) cudaFree(ctx_.error);
    ctx_.error = nullptr;
    if (ring_) cudaFreeHost(ring_);
    ring_ = nullptr;
    if (stream_) cudaStreamDestroy(stream_);
    stream_ = nullptr;
    cudaGetLastError();
  }

  int device_;
  Precision precision_;
  GrowBuffer scratch_;  // ctx_.scratch: partial sums of the bf16 reductions
  StepGraphs graphs_;   // recorded training steps (CUDA graphs)
  bool debug_sync_ = false;
  std::string device_label_;
  cudaStream_t stream_ = nullptr;
  Ctx ctx_;
  std::unique_ptr<ConvEngine> conv_;
  cublasHandle_t cublas_ = nullptr;
  void* cublas_ws_ = nullptr;
  DeviceError* err_host_ = nullptr;  // pinned copy of *ctx_.error
  char* ring_ = nullptr;
  size_t ring_head_ = 0;
  std::deque<Pending> pending_;
  std::vector<cudaEvent_t> event_pool_;
  cudaEvent_t fence_ = nullptr;  // fence_record / fence_wait (snapshots)
};

}  // namespace

// ---- public entry points (ddpm/cuda.h) -------------------------------------------

Backend* create_cuda_backend(int device, Precision precision) { return new CudaBackend(device, precision); }

std::string step_graph_stats(const Backend& backend) {
  const auto* b = dynamic_cast<const CudaBackend*>(&backend);
  return b ? b->graph_stats() : std::string();
}

Backend* create_cuda_backend_named(int device, const std::string& precision) {
  return create_cuda_backend(device, parse_precision(precision));
}

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "tf32") return Precision::kTf32;
  if (name == "bf16") return Precision::kBf16;
  throw Error("cuda precision: '" + name + "' is not one of fp32, tf32, bf16");
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kTf32: return "tf32";
    case Precision::kBf16: return "bf16";
  }
  return "?";
}

int device_count() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

std::string device_name(int device) {
  cudaDeviceProp prop;
  const cudaError_t e = cudaGetDeviceProperties(&prop, device);
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw Error("cuda device_name: device " + std::to_string(device) + ": " + cudaGetErrorString(e));
  }
  return prop.name;
}

std::string versions() {
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  cudaGetLastError();
  const size_t dnn = cudnnGetVersion();  // 10000 * major + 100 * minor + patch (cuDNN 9)
  int bmaj = 0, bmin = 0, bpatch = 0;
  cublasGetProperty(MAJOR_VERSION, &bmaj);
  cublasGetProperty(MINOR_VERSION, &bmin);
  cublasGetProperty(PATCH_LEVEL, &bpatch);
  std::string s = "CUDA runtime " + version_str(runtime) + ", driver " +
                  (driver > 0 ? version_str(driver) : std::string("none"));
  s += ", cuDNN " + std::to_string(dnn / 10000) + "." + std::to_string((dnn % 10000) / 100) + "." +
       std::to_string(dnn % 100);
  s += ", cuBLAS " + std::to_string(bmaj) + "." + std::to_string(bmin) + "." + std::to_string(bpatch);
  return s;
}

}  // namespace cuda
}  // namespace ddpm
