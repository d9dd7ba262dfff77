// Times the seed UNet on the CPU backend: one training step (noise-add,
// forward, MSE, backward, Adam) and one eval-mode forward, in images/s, and
// prints one JSON line (the fields benchmarks/pytorch_ddpm_bench.py prints):
//
//   unet_bench [--base 64] [--depth 4] [--image 32] [--channels 3] [--batch 32]
//              [--threads 2] [--warmup 2] [--iters 5] [--seconds S]
//              [--profile] [--pytorch [script]]
//
// --profile  also times every backend op of one training step and one
//            forward (wrapping the backend in a timing decorator) and prints
//            a table per op and shape to stderr.
// --pytorch  then runs the PyTorch baseline script (default
//            benchmarks/pytorch_ddpm_bench.py, relative to the working
//            directory) on the CPU with the same sizes and threads, so both
//            lines come from one invocation on an equally loaded machine.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "../cpu/gemm.h"
#include "ddpm/backend.h"
#include "ddpm/unet.h"

using namespace ddpm;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Forwards every op to `inner` and adds its wall time to a per-(op, shape)
// table. The CPU backend is synchronous, so wall time is the op's time.
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
    const auto t0 = Clock::now();
    fn();
    Entry& e = table[shape.empty() ? std::string(op) : std::string(op) + " " + shape];
    e.seconds += seconds_since(t0);
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

struct Options {
  int base = 64, depth = 4, image = 32, channels = 3, batch = 32, threads = 2, warmup = 2, iters = 5;
  double seconds = 0;
  bool profile = false;
  std::string pytorch;  // script path, empty = do not run
};

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void usage(const std::string& msg) { throw UsageError(msg); }

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value for " + a);
      return argv[++i];
    };
    if (a == "--base") o.base = std::stoi(value());
    else if (a == "--depth") o.depth = std::stoi(value());
    else if (a == "--image") o.image = std::stoi(value());
    else if (a == "--channels") o.channels = std::stoi(value());
    else if (a == "--batch") o.batch = std::stoi(value());
    else if (a == "--threads") o.threads = std::stoi(value());
    else if (a == "--warmup") o.warmup = std::stoi(value());
    else if (a == "--iters") o.iters = std::stoi(value());
    else if (a == "--seconds") o.seconds = std::stod(value());
    else if (a == "--profile") o.profile = true;
    else if (a == "--pytorch") {
      o.pytorch = (i + 1 < argc && argv[i + 1][0] != '-') ? argv[++i] : "benchmarks/pytorch_ddpm_bench.py";
    } else usage("unknown argument " + a);
  }
  if (o.iters < 1 || o.batch < 1 || o.threads < 1) usage("iters, batch and threads must be >= 1");
  return o;
}

// Repeats fn at least `iters` times (and for at least `min_seconds`); returns seconds per call.
template <typename Fn>
double time_per_call(Fn fn, int warmup, int iters, double min_seconds) {
  for (int i = 0; i < warmup; ++i) fn();
  const auto t0 = Clock::now();
  int done = 0;
  while (done < iters || seconds_since(t0) < min_seconds) {
    fn();
    ++done;
  }
  return seconds_since(t0) / done;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

int run(const Options& o) {
  std::unique_ptr<Backend> cpu(create_cpu_backend(o.threads));
  ProfilingBackend prof(*cpu);
  Backend& be = prof;
  UNetConfig cfg;
  cfg.in_channels = o.channels;
  cfg.height = cfg.width = o.image;
  cfg.base_width = o.base;
  cfg.depth = o.depth;
  UNet net(be, cfg, o.batch);
  net.init(1234);

  const int64_t per = net.sample_size();
  const size_t count = static_cast<size_t>(o.batch) * per;
  std::vector<uint8_t> pixels(count);
  std::vector<uint8_t> flips(o.batch);
  uint32_t state = 12345;
  for (auto& p : pixels) {
    state = state * 1664525u + 1013904223u;
    p = static_cast<uint8_t>(state >> 24);
  }
  for (int i = 0; i < o.batch; ++i) flips[i] = static_cast<uint8_t>(i & 1);
  AdamParams hp;
  int64_t step = 0;
  auto train = [&] { net.train_step(pixels.data(), flips.data(), o.batch, hp, 7, step++); };

  // Eval forward on a fixed noisy batch in backend memory.
  float* x = static_cast<float*>(be.alloc(count * sizeof(float)));
  float* y = static_cast<float*>(be.alloc(count * sizeof(float)));
  int32_t* t = static_cast<int32_t*>(be.alloc(o.batch * sizeof(int32_t)));
  be.gaussian(x, count, 99, 0, 0);
  be.uniform_int(t, o.batch, cfg.timesteps, 99, 1);
  auto forward = [&] {
    net.forward(x, t, y, o.batch, false);
    be.synchronize();
  };

  const double train_s = time_per_call(train, o.warmup, o.iters, o.seconds);
  std::vector<float> loss(1);
  net.read_losses(loss.data(), step - 1, 1);
  const double fwd_s = time_per_call(forward, o.warmup, o.iters, o.seconds);

  std::printf(
      "{\"backend\":\"cpu\",\"device\":\"%s\",\"kernel\":\"%s\",\"threads\":%d,\"batch\":%d,\"image\":%d,"
      "\"base\":%d,\"depth\":%d,\"params\":%lld,\"train_img_per_s\":%.3f,\"forward_img_per_s\":%.3f,"
      "\"train_step_ms\":%.1f,\"forward_ms\":%.1f,\"last_loss\":%.5f}\n",
      json_escape(be.device_name()).c_str(), cpu::gemm_kernel_name(), be.threads(), o.batch, o.image,
      o.base, o.depth, static_cast<long long>(net.num_params()), o.batch / train_s, o.batch / fwd_s,
      train_s * 1e3, fwd_s * 1e3, loss[0]);
  std::fflush(stdout);

  if (o.profile) {
    prof.enabled = true;
    auto t0 = Clock::now();
    train();
    const double train_wall = seconds_since(t0);
    prof.print("one training step", train_wall);
    prof.table.clear();
    t0 = Clock::now();
    forward();
    prof.print("one eval forward", seconds_since(t0));
    prof.enabled = false;
  }
  be.free(x);
  be.free(y);
  be.free(t);

  if (!o.pytorch.empty()) {
    const std::string cmd = "python3 " + o.pytorch + " --device cpu --threads " + std::to_string(o.threads) +
                            " --batch " + std::to_string(o.batch) + " --image " + std::to_string(o.image) +
                            " --channels " + std::to_string(o.channels) + " --base " + std::to_string(o.base) +
                            " --depth " + std::to_string(o.depth) + " --warmup " + std::to_string(o.warmup) +
                            " --iters " + std::to_string(o.iters) + " --seconds " + std::to_string(o.seconds);
    std::fflush(stdout);
    const int rc = std::system(cmd.c_str());
    if (rc != 0) {
      std::fprintf(stderr, "unet_bench: the PyTorch baseline failed (%s)\n", cmd.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const UsageError& e) {
    std::fprintf(stderr,
                 "unet_bench: %s\nusage: unet_bench [--base 64] [--depth 4] [--image 32] [--channels 3]\n"
                 "         [--batch 32] [--threads 2] [--warmup 2] [--iters 5] [--seconds S] [--profile]\n"
                 "         [--pytorch [benchmarks/pytorch_ddpm_bench.py]]\n",
                 e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unet_bench: %s\n", e.what());
    return 1;
  }
}
