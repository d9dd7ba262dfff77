// The CPU backend: host memory and the ops of cpu_ops.h on a thread pool.
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <thread>

#include "cpu_backend.h"
#include "cpu_ops.h"
#include "ddpm/backend.h"
#include "gemm.h"

namespace ddpm {
namespace {

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        auto start = line.find_first_not_of(' ', colon + 1);
        return start == std::string::npos ? std::string("CPU") : line.substr(start);
      }
    }
  }
  return "CPU";
}

class CpuBackend final : public Backend {
 public:
  CpuBackend(int threads, cpu::ConvMath math) : pool_(threads), model_(cpu_model_name()), math_(math) {}

  std::string name() const override { return "cpu"; }
  std::string device_name() const override { return model_; }
  int threads() const override { return pool_.threads(); }

  void* alloc(size_t bytes) override {
    size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    if (!p) throw Error("cpu alloc: out of memory allocating " + std::to_string(bytes) + " bytes");
    return p;
  }
  void free(void* p) override { std::free(p); }
  void upload(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void download(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy(void* dst, const void* src, size_t bytes) override { std::memmove(dst, src, bytes); }
  void fill(float* dst, float value, size_t n) override {
    for (size_t i = 0; i < n; ++i) dst[i] = value;
  }
  void synchronize() override {}

  void conv2d_forward(const float* x, const float* w, const float* b, float* y, int N, int Cin,
                      int H, int W, int Cout, int k) override {
    cpu::conv2d_forward(pool_, math_, x, w, b, y, N, Cin, H, W, Cout, k);
  }
  void conv2d_backward(const float* x, const float* w, const float* dy, float* dx, float* dw,
                       float* db, int N, int Cin, int H, int W, int Cout, int k) override {
    cpu::conv2d_backward(pool_, math_, x, w, dy, dx, dw, db, N, Cin, H, W, Cout, k);
  }
  void conv_transpose2x2_forward(const float* x, const float* w, const float* b, float* y, int N,
                                 int Cin, int H, int W, int Cout) override {
    cpu::conv_transpose2x2_forward(pool_, math_, x, w, b, y, N, Cin, H, W, Cout);
  }
  void conv_transpose2x2_backward(const float* x, const float* w, const float* dy, float* dx,
                                  float* dw, float* db, int N, int Cin, int H, int W,
                                  int Cout) override {
    cpu::conv_transpose2x2_backward(pool_, math_, x, w, dy, dx, dw, db, N, Cin, H, W, Cout);
  }
  void batchnorm_relu_forward(const float* x, float* y, const float* gamma, const float* beta,
                              float* running_mean, float* running_var, float* save_mean,
                              float* save_invstd, const float* add, int N, int C, int HW,
                              bool training, float momentum, float eps) override {
    cpu::batchnorm_relu_forward(pool_, x, y, gamma, beta, running_mean, running_var, save_mean,
                                save_invstd, add, N, C, HW, training, momentum, eps);
  }
  void batchnorm_relu_backward(const float* x, const float* dy, const float* gamma,
                               const float* beta, const float* save_mean, const float* save_invstd,
                               float* dx, float* dgamma, float* dbeta, float* dadd, int N, int C,
                               int HW) override {
    cpu::batchnorm_relu_backward(pool_, x, dy, gamma, beta, save_mean, save_invstd, dx, dgamma,
                                 dbeta, dadd, N, C, HW);
  }
  void maxpool2x2_forward(const float* x, float* y, const float* add, int N, int C, int H,
                          int W) override {
    cpu::maxpool2x2_forward(pool_, x, y, add, N, C, H, W);
  }
  void maxpool2x2_backward(const float* x, const float* dy, float* dx, float* dadd, int N, int C,
                           int H, int W) override {
    cpu::maxpool2x2_backward(pool_, x, dy, dx, dadd, N, C, H, W);
  }
  void pad_concat_forward(const float* up, const float* skip, float* out, int N, int Cu, int Hu,
                          int Wu, int Cs, int Hs, int Ws) override {
    cpu::pad_concat_forward(pool_, up, skip, out, N, Cu, Hu, Wu, Cs, Hs, Ws);
  }
  void pad_concat_backward(const float* dout, float* dup, float* dskip, int N, int Cu, int Hu,
                           int Wu, int Cs, int Hs, int Ws) override {
    cpu::pad_concat_backward(pool_, dout, dup, dskip, N, Cu, Hu, Wu, Cs, Hs, Ws);
  }
  void add_channel_forward(const float* x, const float* add, float* y, int N, int C,
                           int HW) override {
    cpu::add_channel_forward(pool_, x, add, y, N, C, HW);
  }
  void add_channel_backward(const float* dy, float* dadd, int N, int C, int HW) override {
    cpu::add_channel_backward(pool_, dy, dadd, N, C, HW);
  }
  void linear_forward(const float* x, const float* w, const float* b, float* y, int N, int in,
                      int out) override {
    cpu::linear_forward(pool_, x, w, b, y, N, in, out);
  }
  void linear_backward(const float* x, const float* w, const float* dy, float* dx, float* dw,
                       float* db, int N, int in, int out) override {
    cpu::linear_backward(pool_, x, w, dy, dx, dw, db, N, in, out);
  }
  void silu_forward(const float* x, float* y, size_t n) override { cpu::silu_forward(pool_, x, y, n); }
  void silu_backward(const float* x, const float* dy, float* dx, size_t n) override {
    cpu::silu_backward(pool_, x, dy, dx, n);
  }
  void embedding_gather(const float* table, const int32_t* t, float* out, int N, int D,
                        int T) override {
    cpu::embedding_gather(pool_, table, t, out, N, D, T);
  }
  void mse_forward_backward(const float* pred, const float* target, float* loss, float* grad,
                            size_t n) override {
    cpu::mse_forward_backward(pool_, pred, target, loss, grad, n);
  }
  void gaussian(float* out, size_t n, uint64_t seed, uint64_t stream, uint64_t offset) override {
    cpu::gaussian(pool_, out, n, seed, stream, offset);
  }
  void uniform_int(int32_t* out, size_t n, int32_t high, uint64_t seed, uint64_t stream) override {
    cpu::uniform_int(pool_, out, n, high, seed, stream);
  }
  void images_to_float(const uint8_t* pixels, const uint8_t* flip, float* out, int N, int C, int H,
                       int W) override {
    cpu::images_to_float(pool_, pixels, flip, out, N, C, H, W);
  }
  void noise_add(const float* x0, const float* eps, const int32_t* t, const float* sqrt_abar,
                 const float* sqrt_one_minus_abar, float* xt, int N, size_t per_sample) override {
    cpu::noise_add(pool_, x0, eps, t, sqrt_abar, sqrt_one_minus_abar, xt, N, per_sample);
  }
  void reverse_step(const float* x_t, const float* eps_theta, float* x_prev, int N,
                    size_t per_sample, float c_x, float c_eps, float sigma, uint64_t seed,
                    uint64_t stream, int64_t first_index) override {
    cpu::reverse_step(pool_, x_t, eps_theta, x_prev, N, per_sample, c_x, c_eps, sigma, seed, stream,
                      first_index);
  }
  void clamp(const float* x, float* out, size_t n, float lo, float hi) override {
    cpu::clamp(pool_, x, out, n, lo, hi);
  }
  void adam_update(float* params, const float* grads, float* m, float* v, size_t n,
                   const AdamParams& p) override {
    cpu::adam_update(pool_, params, grads, m, v, n, p);
  }
  void ema_update(float* ema, const float* params, size_t n, double decay) override {
    cpu::ema_update(pool_, ema, params, n, decay);
  }
  void ddim_step(const float* x_t, const float* eps_theta, float* x_prev, int N, size_t per_sample,
                 const DdimCoefficients& k, uint64_t seed, uint64_t stream, int64_t first_index) override {
    cpu::ddim_step(pool_, x_t, eps_theta, x_prev, N, per_sample, k, seed, stream, first_index);
  }
  void guided_eps(const float* eps_cond, const float* eps_uncond, float* out, size_t n, float w) override {
    cpu::guided_eps(pool_, eps_cond, eps_uncond, out, n, w);
  }
  void class_embed_add(const float* table, const int32_t* labels, float* out, int N, int D, int K) override {
    cpu::class_embed_add(pool_, table, labels, out, N, D, K);
  }
  void class_embed_backward(const float* dout, int slices, const int32_t* labels, float* dtable, int N, int D,
                            int K) override {
    cpu::class_embed_backward(pool_, dout, slices, labels, dtable, N, D, K);
  }

 private:
  cpu::ThreadPool pool_;
  std::string model_;
  cpu::ConvMath math_;
};

}  // namespace

namespace cpu {

ConvMath parse_precision(const std::string& name) {
  if (name == "fp32" || name == "tf32") return ConvMath::kFloat32;
  if (name == "bf16") return ConvMath::kBf16;
  throw Error("cpu precision: '" + name + "' is not one of fp32, tf32, bf16");
}

Backend* create_backend(int threads, ConvMath math) {
  if (math == ConvMath::kBf16 && !gemm_cpu_has_bf16())
    throw Error("precision bf16 on the CPU needs the AVX512_BF16 instruction set (vdpbf16ps), which this CPU (" +
                cpu_model_name() + ") does not have");
  if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
  if (threads <= 0) threads = 1;
  return new CpuBackend(threads, math);
}

}  // namespace cpu

Backend* create_cpu_backend(int threads) { return cpu::create_backend(threads, cpu::ConvMath::kFloat32); }

void destroy_backend(Backend* backend) { delete backend; }

}  // namespace ddpm
