// Times the seed UNet on the CPU backend: one training step (noise-add,
// forward, MSE, backward, Adam) and one eval-mode forward, in images/s, and
// prints one JSON line (the fields benchmarks/pytorch_ddpm_bench.py prints):
//
//   unet_bench [--base 64] [--depth 4] [--image 32] [--channels 3] [--batch 32]
//              [--threads 2] [--warmup 2] [--iters 5] [--seconds S]
//              [--precision fp32|bf16] [--isa generic|avx2|avx512]
//              [--profile [R]] [--pytorch [script]]
//
// --precision  the CPU backend's precision (bf16: convolutions on bf16
//              operands, needs AVX512_BF16).
// --isa        caps the kernels' instruction set (default: the best the CPU
//              has), to time the AVX2 kernels on an AVX-512 machine.
// --profile  also times every backend op of a training step and a forward
//            (wrapping the backend in a timing decorator) and prints a table
//            per op and shape to stderr: for each, the fastest of R profiled
//            steps (default 3), so that on a shared machine the time other
//            processes take from one run drops out.
// --pytorch  then runs the PyTorch baseline script (default
//            benchmarks/pytorch_ddpm_bench.py, relative to the working
//            directory) on the CPU with the same sizes and threads (and bf16
//            autocast with --precision bf16), so both lines come from one
//            invocation on an equally loaded machine.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "../cpu/cpu_backend.h"
#include "../cpu/gemm.h"
#include "ddpm/backend.h"
#include "ddpm/unet.h"
#include "profiling_backend.h"

using namespace ddpm;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}


struct Options {
  int base = 64, depth = 4, image = 32, channels = 3, batch = 32, threads = 2, warmup = 2, iters = 5;
  double seconds = 0;
  int profile_runs = 0;  // 0: no profile
  std::string pytorch;  // script path, empty = do not run
  std::string precision = "fp32";
  std::string isa;      // empty = the CPU's best
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
    else if (a == "--profile")
      o.profile_runs = (i + 1 < argc && argv[i + 1][0] != '-') ? std::stoi(argv[++i]) : 3;
    else if (a == "--precision") o.precision = value();
    else if (a == "--isa") o.isa = value();
    else if (a == "--pytorch") {
      o.pytorch = (i + 1 < argc && argv[i + 1][0] != '-') ? argv[++i] : "benchmarks/pytorch_ddpm_bench.py";
    } else usage("unknown argument " + a);
  }
  if (o.iters < 1 || o.batch < 1 || o.threads < 1) usage("iters, batch and threads must be >= 1");
  if (!o.isa.empty() && o.isa != "generic" && o.isa != "avx2" && o.isa != "avx512")
    usage("--isa must be generic, avx2 or avx512, got " + o.isa);
  return o;
}

// CPU seconds this process has used (all threads).
double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct PerCall {
  double wall_s, cpu_s;  // seconds per call: elapsed, and CPU time of all threads
};

// Repeats fn at least `iters` times (and for at least `min_seconds`). The CPU
// time is what a loaded machine leaves intact: with one thread it is the
// work alone, whatever else runs (the pool's threads spin briefly between
// ops, so with more threads it also counts some waiting).
template <typename Fn>
PerCall time_per_call(Fn fn, int warmup, int iters, double min_seconds) {
  for (int i = 0; i < warmup; ++i) fn();
  const auto t0 = Clock::now();
  const double c0 = process_cpu_seconds();
  int done = 0;
  while (done < iters || seconds_since(t0) < min_seconds) {
    fn();
    ++done;
  }
  return {seconds_since(t0) / done, (process_cpu_seconds() - c0) / done};
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
  if (!o.isa.empty())
    cpu::gemm_limit_isa(o.isa == "avx512" ? cpu::GemmIsa::kAvx512
                        : o.isa == "avx2" ? cpu::GemmIsa::kAvx2
                                          : cpu::GemmIsa::kGeneric);
  const Precision precision = parse_precision(o.precision);
  const cpu::ConvMath math = cpu::conv_math(precision);
  std::unique_ptr<Backend> cpu(cpu::create_backend(o.threads, precision));
  tools::ProfilingBackend prof(*cpu);
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

  const PerCall train_t = time_per_call(train, o.warmup, o.iters, o.seconds);
  const double train_s = train_t.wall_s;
  std::vector<float> loss(1);
  net.read_losses(loss.data(), step - 1, 1);
  const PerCall fwd_t = time_per_call(forward, o.warmup, o.iters, o.seconds);
  const double fwd_s = fwd_t.wall_s;

  std::printf(
      "{\"backend\":\"cpu\",\"device\":\"%s\",\"precision\":\"%s\",\"kernel\":\"%s\",\"threads\":%d,\"batch\":%d,\"image\":%d,"
      "\"base\":%d,\"depth\":%d,\"params\":%lld,\"train_img_per_s\":%.3f,\"forward_img_per_s\":%.3f,"
      "\"train_step_ms\":%.1f,\"forward_ms\":%.1f,\"train_step_cpu_ms\":%.1f,\"forward_cpu_ms\":%.1f,"
      "\"last_loss\":%.5f}\n",
      json_escape(be.device_name()).c_str(), o.precision.c_str(),
      cpu::gemm_kernel_name(math == cpu::ConvMath::kBf16), be.threads(), o.batch, o.image,
      o.base, o.depth, static_cast<long long>(net.num_params()), o.batch / train_s, o.batch / fwd_s,
      train_s * 1e3, fwd_s * 1e3, train_t.cpu_s * 1e3, fwd_t.cpu_s * 1e3, loss[0]);
  std::fflush(stdout);

  // The fastest of profile_runs calls of fn, per op and shape (and the fastest wall time).
  auto profile = [&](const char* title, const std::function<void()>& fn) {
    std::map<std::string, tools::ProfilingBackend::Entry> best;
    double best_wall = 0;
    for (int r = 0; r < o.profile_runs; ++r) {
      prof.table.clear();
      prof.enabled = true;
      const auto t0 = Clock::now();
      fn();
      const double wall = seconds_since(t0);
      prof.enabled = false;
      best_wall = r == 0 ? wall : std::min(best_wall, wall);
      for (const auto& e : prof.table) {
        auto it = best.find(e.first);
        if (it == best.end() || e.second.seconds < it->second.seconds) best[e.first] = e.second;
      }
    }
    prof.table = best;
    prof.print(title, best_wall);
  };
  if (o.profile_runs > 0) {
    const std::string runs = " (fastest of " + std::to_string(o.profile_runs) + ")";
    profile(("one training step" + runs).c_str(), train);
    profile(("one eval forward" + runs).c_str(), forward);
  }
  be.free(x);
  be.free(y);
  be.free(t);

  if (!o.pytorch.empty()) {
    const std::string cmd = "python3 " + o.pytorch + " --device cpu --threads " + std::to_string(o.threads) +
                            " --batch " + std::to_string(o.batch) + " --image " + std::to_string(o.image) +
                            " --channels " + std::to_string(o.channels) + " --base " + std::to_string(o.base) +
                            " --depth " + std::to_string(o.depth) + " --warmup " + std::to_string(o.warmup) +
                            " --iters " + std::to_string(o.iters) + " --seconds " + std::to_string(o.seconds) +
                            (math == cpu::ConvMath::kBf16 ? " --bf16" : "");
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
                 "         [--batch 32] [--threads 2] [--warmup 2] [--iters 5] [--seconds S] [--profile [R]]\n"
                 "         [--precision fp32|bf16] [--isa generic|avx2|avx512]\n"
                 "         [--pytorch [benchmarks/pytorch_ddpm_bench.py]]\n",
                 e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unet_bench: %s\n", e.what());
    return 1;
  }
}
