// A Backend decorator that times every op (tools only: unet_bench, cuda_check).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ddpm/backend.h"

namespace ddpm {
namespace tools {

// Forwards every op to `inner` and adds its wall time to a per-(op, shape)
// table. The CPU backend is synchronous, so wall time is the op's time; for
// an asynchronous backend (CUDA) set sync_each, so every timed op waits for
// the device (the launch latency then counts too: a profile, not a benchmark).
class ProfilingBackend final : public Backend {
 public:
  explicit ProfilingBackend(Backend& inner) : in_(inner) {}

  struct Entry {
    double seconds = 0;
    int64_t calls = 0;
    double flops = 0;
  };
  std::map<std::string, Entry> table;
  bool enabled = false;
  bool sync_each = false;

  std::string name() const override { return in_.name(); }
  std::string device_name() const override { return in_.device_name(); }
  int threads() const override { return in_.threads(); }
  void* alloc(size_t bytes) override { return in_.alloc(bytes); }
  void free(void* p) override { in_.free(p); }
  void upload(void* d, const void* s, size_t b) override { timed("upload", "", 0, [&] { in_.upload(d, s, b); }); }
  void download(void* d, const void* s, size_t b) override { timed("download", "", 0, [&] { in_.download(d, s, b); }); }
  void copy(void* d, const void* s, size_t b) override { timed("copy", "", 0, [&] { in_.copy(d, s, b); }); }
  void fill(float* d, float v, size_t n) override { timed("fill", "", 0, [&] { in_.fill(d, v, n); }); }
  void synchronize() override { in_.synchronize(); }
  void* alloc_host(size_t bytes) override { return in_.alloc_host(bytes); }
  void free_host(void* p) override { in_.free_host(p); }
  void download_async(void* h, const void* s, size_t bytes) override { in_.download_async(h, s, bytes); }
  void fence_record() override { in_.fence_record(); }
  void fence_wait() override { in_.fence_wait(); }
  ActivationFormat activation_format() const override { return in_.activation_format(); }
  size_t activation_bytes(size_t n) const override { return in_.activation_bytes(n); }
  void to_activation(const float* s, float* d, int N, int C, int HW) override {
    timed("to_activation", plane_shape(N, C, HW), 0, [&] { in_.to_activation(s, d, N, C, HW); });
  }
  void from_activation(const float* s, float* d, int N, int C, int HW) override {
    timed("from_activation", plane_shape(N, C, HW), 0, [&] { in_.from_activation(s, d, N, C, HW); });
  }

  void conv2d_forward(const float* x, const float* w, const float* b, float* y, int N, int Cin, int H,
                      int W, int Cout, int k) override {
    timed("conv2d_forward", conv_shape(N, Cin, H, W, Cout, k), 2.0 * N * H * W * Cin * Cout * k * k,
          [&] { in_.conv2d_forward(x, w, b, y, N, Cin, H, W, Cout, k); });
  }
  void conv2d_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db,
                       int N, int Cin, int H, int W, int Cout, int k) override {
    timed("conv2d_backward", conv_shape(N, Cin, H, W, Cout, k) + (dx ? "" : " (no dx)"),
          (dx ? 4.0 : 2.0) * N * H * W * Cin * Cout * k * k,
          [&] { in_.conv2d_backward(x, w, dy, dx, dw, db, N, Cin, H, W, Cout, k); });
  }
  void conv_transpose2x2_forward(const float* x, const float* w, const float* b, float* y, int N,
                                 int Cin, int H, int W, int Cout) override {
    timed("convT_forward", conv_shape(N, Cin, H, W, Cout, 2), 8.0 * N * H * W * Cin * Cout,
          [&] { in_.conv_transpose2x2_forward(x, w, b, y, N, Cin, H, W, Cout); });
  }
  void conv_transpose2x2_backward(const float* x, const float* w, const float* dy, float* dx, float* dw,
                                  float* db, int N, int Cin, int H, int W, int Cout) override {
    timed("convT_backward", conv_shape(N, Cin, H, W, Cout, 2), 16.0 * N * H * W * Cin * Cout,
          [&] { in_.conv_transpose2x2_backward(x, w, dy, dx, dw, db, N, Cin, H, W, Cout); });
  }
  void batchnorm_relu_forward(const float* x, float* y, const float* g, const float* b, float* rm,
                              float* rv, float* sm, float* si, const float* add, int N, int C, int HW,
                              bool training, float mom, float eps) override {
    timed("bn_relu_forward", plane_shape(N, C, HW), 0,
          [&] { in_.batchnorm_relu_forward(x, y, g, b, rm, rv, sm, si, add, N, C, HW, training, mom, eps); });
  }
  void batchnorm_relu_backward(const float* x, const float* dy, const float* g, const float* b,
                               const float* sm, const float* si, float* dx, float* dg, float* db,
                               float* dadd, int N, int C, int HW) override {
    timed("bn_relu_backward", plane_shape(N, C, HW), 0,
          [&] { in_.batchnorm_relu_backward(x, dy, g, b, sm, si, dx, dg, db, dadd, N, C, HW); });
  }
  void maxpool2x2_forward(const float* x, float* y, const float* add, int N, int C, int H, int W) override {
    timed("maxpool_forward", plane_shape(N, C, H * W), 0, [&] { in_.maxpool2x2_forward(x, y, add, N, C, H, W); });
  }
  void maxpool2x2_backward(const float* x, const float* dy, float* dx, float* dadd, int N, int C, int H,
                           int W) override {
    timed("maxpool_backward", plane_shape(N, C, H * W), 0,
          [&] { in_.maxpool2x2_backward(x, dy, dx, dadd, N, C, H, W); });
  }
  void pad_concat_forward(const float* up, const float* skip, float* out, int N, int Cu, int Hu, int Wu,
                          int Cs, int Hs, int Ws) override {
    timed("pad_concat_forward", plane_shape(N, Cu + Cs, Hs * Ws), 0,
          [&] { in_.pad_concat_forward(up, skip, out, N, Cu, Hu, Wu, Cs, Hs, Ws); });
  }
  void pad_concat_backward(const float* dout, float* dup, float* dskip, int N, int Cu, int Hu, int Wu,
                           int Cs, int Hs, int Ws) override {
    timed("pad_concat_backward", plane_shape(N, Cu + Cs, Hs * Ws), 0,
          [&] { in_.pad_concat_backward(dout, dup, dskip, N, Cu, Hu, Wu, Cs, Hs, Ws); });
  }
  void add_channel_forward(const float* x, const float* add, float* y, int N, int C, int HW) override {
    timed("add_channel_forward", plane_shape(N, C, HW), 0, [&] { in_.add_channel_forward(x, add, y, N, C, HW); });
  }
  void add_channel_backward(const float* dy, float* dadd, int N, int C, int HW) override {
    timed("add_channel_backward", plane_shape(N, C, HW), 0, [&] { in_.add_channel_backward(dy, dadd, N, C, HW); });
  }
  void linear_forward(const float* x, const float* w, const float* b, float* y, int N, int in, int out) override {
    timed("linear_forward", "", 2.0 * N * in * out, [&] { in_.linear_forward(x, w, b, y, N, in, out); });
  }
  void linear_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db,
                       int N, int in, int out) override {
    timed("linear_backward", "", (dx ? 4.0 : 2.0) * N * in * out,
          [&] { in_.linear_backward(x, w, dy, dx, dw, db, N, in, out); });
  }
  void silu_forward(const float* x, float* y, size_t n) override { timed("silu_forward", "", 0, [&] { in_.silu_forward(x, y, n); }); }
  void silu_backward(const float* x, const float* dy, float* dx, size_t n) override {
    timed("silu_backward", "", 0, [&] { in_.silu_backward(x, dy, dx, n); });
  }
  void embedding_gather(const float* table_, const int32_t* t, float* out, int N, int D, int T) override {
    timed("embedding_gather", "", 0, [&] { in_.embedding_gather(table_, t, out, N, D, T); });
  }
  void mse_forward_backward(const float* p, const float* t, float* loss, float* grad, size_t n) override {
    timed("mse", "", 0, [&] { in_.mse_forward_backward(p, t, loss, grad, n); });
  }
  void gaussian(float* out, size_t n, uint64_t seed, uint64_t stream, uint64_t offset) override {
    timed("gaussian", "", 0, [&] { in_.gaussian(out, n, seed, stream, offset); });
  }
  void uniform_int(int32_t* out, size_t n, int32_t high, uint64_t seed, uint64_t stream) override {
    timed("uniform_int", "", 0, [&] { in_.uniform_int(out, n, high, seed, stream); });
  }
  void images_to_float(const uint8_t* px, const uint8_t* flip, float* out, int N, int C, int H, int W) override {
    timed("images_to_float", "", 0, [&] { in_.images_to_float(px, flip, out, N, C, H, W); });
  }
  void noise_add(const float* x0, const float* eps, const int32_t* t, const float* a, const float* s,
                 float* xt, int N, size_t per) override {
    timed("noise_add", "", 0, [&] { in_.noise_add(x0, eps, t, a, s, xt, N, per); });
  }
  void reverse_step(const float* x_t, const float* e, float* x_prev, int N, size_t per, float c_x,
                    float c_eps, float sigma, uint64_t seed, uint64_t stream, int64_t first) override {
    timed("reverse_step", "", 0,
          [&] { in_.reverse_step(x_t, e, x_prev, N, per, c_x, c_eps, sigma, seed, stream, first); });
  }
  void clamp(const float* x, float* out, size_t n, float lo, float hi) override {
    timed("clamp", "", 0, [&] { in_.clamp(x, out, n, lo, hi); });
  }
  void adam_update(float* p, const float* g, float* m, float* v, size_t n, const AdamParams& hp) override {
    timed("adam_update", "", 0, [&] { in_.adam_update(p, g, m, v, n, hp); });
  }
  void ema_update(float* ema, const float* p, size_t n, double decay) override {
    timed("ema_update", "", 0, [&] { in_.ema_update(ema, p, n, decay); });
  }
  void ddim_step(const float* x_t, const float* e, float* x_prev, int N, size_t per, const DdimCoefficients& k,
                 uint64_t seed, uint64_t stream, int64_t first) override {
    timed("ddim_step", "", 0, [&] { in_.ddim_step(x_t, e, x_prev, N, per, k, seed, stream, first); });
  }
  void guided_eps(const float* c, const float* u, float* out, size_t n, float w) override {
    timed("guided_eps", "", 0, [&] { in_.guided_eps(c, u, out, n, w); });
  }
  void class_embed_add(const float* table, const int32_t* labels, float* out, int N, int D, int K) override {
    timed("class_embed_add", "", 0, [&] { in_.class_embed_add(table, labels, out, N, D, K); });
  }
  void class_embed_backward(const float* dout, int slices, const int32_t* labels, float* dtable, int N, int D,
                            int K) override {
    timed("class_embed_backward", "", 0, [&] { in_.class_embed_backward(dout, slices, labels, dtable, N, D, K); });
  }

  void print(const char* title, double total_seconds) const {
    std::vector<std::pair<std::string, Entry>> rows(table.begin(), table.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
    double sum = 0;
    std::map<std::string, double> by_op;
    for (const auto& r : rows) {
      sum += r.second.seconds;
      by_op[r.first.substr(0, r.first.find(' '))] += r.second.seconds;
    }
    std::fprintf(stderr, "\n== %s: %.1f ms wall, %.1f ms in ops ==\n", title, total_seconds * 1e3, sum * 1e3);
    std::vector<std::pair<std::string, double>> ops(by_op.begin(), by_op.end());
    std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    std::fprintf(stderr, "%-24s %10s %6s\n", "op", "ms", "%");
    for (const auto& o : ops)
      std::fprintf(stderr, "%-24s %10.2f %6.1f\n", o.first.c_str(), o.second * 1e3, 100 * o.second / sum);
    std::fprintf(stderr, "\n%-52s %6s %9s %8s %7s\n", "op and shape (N Cin->Cout HxW k)", "calls", "ms", "GFLOP/s", "%");
    for (const auto& r : rows) {
      if (r.second.seconds < 0.002 * sum) continue;
      const double gflops = r.second.flops > 0 ? r.second.flops / r.second.seconds * 1e-9 : 0;
      std::fprintf(stderr, "%-52s %6lld %9.2f %8.1f %7.1f\n", r.first.c_str(), static_cast<long long>(r.second.calls),
                   r.second.seconds * 1e3, gflops, 100 * r.second.seconds / sum);
    }
  }

 private:
  template <typename Fn>
  void timed(const char* op, const std::string& shape, double flops, Fn fn) {
    if (!enabled) {
      fn();
      return;
    }
    if (sync_each) in_.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    if (sync_each) in_.synchronize();
    Entry& e = table[shape.empty() ? std::string(op) : std::string(op) + " " + shape];
    e.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    e.calls += 1;
    e.flops += flops;
  }
  static std::string conv_shape(int N, int Cin, int H, int W, int Cout, int k) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "N%d %d->%d %dx%d k%d", N, Cin, Cout, H, W, k);
    return buf;
  }
  static std::string plane_shape(int N, int C, int HW) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "N%d C%d HW%d", N, C, HW);
    return buf;
  }

  Backend& in_;
};

}  // namespace tools
}  // namespace ddpm
